//! The terminal prompt shared by `paxchain prompt` (one account's client) and `paxchain demo`.

use crate::demo::Demo;
use crate::input::{parse_account, parse_amount, parse_line, Triplet};
use crate::show;
use crate::udp_client::{ClientError, UdpClient};
use paxchain::{Account, ApiMsg};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// How long a query waits to learn that its server is up before saying it is down.
const QUICK: std::time::Duration = std::time::Duration::from_millis(300);

/// One prompt command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptCommand {
    /// `transfer B 4` (from the default account), `as A transfer B 4`, or `(A, B, 4)`.
    Transfer {
        from: Option<Account>,
        to: Account,
        amount: u64,
    },
    Balance(Option<Account>),
    Log(Option<Account>),
    Chain(Option<Account>),
    Status,
    Crash(Account),
    Recover(Account),
    Help,
    Quit,
}

pub const HELP: &str = concat!(
    "  transfer B 4          send 4 units from this client's account to B\n",
    "  as A transfer B 4     (demo) send from A's client\n",
    "  (A, B, 4)             the course's form, from A's client\n",
    "  balance [X]           PrintBalance: X's balance as its server knows it (default: own)\n",
    "  log [S]               PrintLog: server S's local log (default: own)\n",
    "  chain [S]             PrintBlockchain: server S's chain (default: own)\n",
    "  status                each server's ballot, chain height and log length\n",
    "  crash S / recover S   (demo) kill server S's process / restart it from its data directory\n",
    "  help, quit            (Ctrl-D quits too)",
);

fn account(word: Option<&&str>) -> Result<Option<Account>, String> {
    word.map(|w| parse_account(w)).transpose()
}

/// Parses a prompt line; `Ok(None)` for a blank line.
pub fn parse(line: &str) -> Result<Option<PromptCommand>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let cmd = match words.as_slice() {
        [] => return Ok(None),
        [first, ..] if first.starts_with('(') => {
            let Some(Triplet { from, to, amount }) = parse_line(line)? else {
                return Ok(None);
            };
            PromptCommand::Transfer {
                from: Some(from),
                to,
                amount,
            }
        }
        ["transfer", to, n] => PromptCommand::Transfer {
            from: None,
            to: parse_account(to)?,
            amount: parse_amount(n)?,
        },
        ["as", from, "transfer", to, n] => PromptCommand::Transfer {
            from: Some(parse_account(from)?),
            to: parse_account(to)?,
            amount: parse_amount(n)?,
        },
        ["balance", rest @ ..] if rest.len() <= 1 => PromptCommand::Balance(account(rest.first())?),
        ["log", rest @ ..] if rest.len() <= 1 => PromptCommand::Log(account(rest.first())?),
        ["chain", rest @ ..] if rest.len() <= 1 => PromptCommand::Chain(account(rest.first())?),
        ["status"] => PromptCommand::Status,
        ["crash", s] => PromptCommand::Crash(parse_account(s)?),
        ["recover", s] => PromptCommand::Recover(parse_account(s)?),
        ["help"] | ["?"] => PromptCommand::Help,
        ["quit"] | ["exit"] => PromptCommand::Quit,
        _ => return Err(format!("`{}`: unknown command; try `help`", line.trim())),
    };
    Ok(Some(cmd))
}

/// The clients of a session (one in `client`, one per account in `demo`) and, in a demo,
/// the server processes.
pub struct Session {
    pub clients: BTreeMap<Account, UdpClient>,
    /// The account `transfer` sends from when no `as` is given.
    pub default: Option<Account>,
    pub demo: Option<Demo>,
}

impl Session {
    fn client(&mut self, from: Option<Account>) -> Result<&mut UdpClient, String> {
        let from = from
            .or(self.default)
            .ok_or("say which client: `as A transfer B 4`")?;
        self.clients
            .get_mut(&from)
            .ok_or_else(|| format!("this session has no client for account {from}"))
    }

    fn any(&self) -> &UdpClient {
        self.clients
            .values()
            .next()
            .expect("a session has a client")
    }

    /// Submits one transfer and says what became of it.
    pub fn transfer(&mut self, from: Option<Account>, to: Account, amount: u64) -> String {
        let client = match self.client(from) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let text = format!("({}, {to}, {amount})", client.account());
        match client.transfer(to, amount) {
            Ok((id, outcome)) => show::outcome(id, &text, &outcome),
            Err(e) => format!("{text}: {e}"),
        }
    }

    /// Whether server `s` is up, asked once briefly; else what to tell the user at once.
    fn up(&self, s: Account) -> Result<(), String> {
        let client = self.any();
        if client.server(s).is_err() {
            return Err(format!(
                "there is no server {s}: the cluster has {}",
                client.servers()
            ));
        }
        match client.answers_within(s, QUICK) {
            true => Ok(()),
            false => Err(format!(
                "server {s} is down (no answer within {} ms)",
                QUICK.as_millis()
            )),
        }
    }

    /// Runs one command; the text to print.
    pub fn run(&mut self, cmd: PromptCommand) -> Result<String, ClientError> {
        let own = self.default.unwrap_or(Account(0));
        let asked = match &cmd {
            PromptCommand::Balance(x) | PromptCommand::Log(x) | PromptCommand::Chain(x) => {
                Some(x.unwrap_or(own))
            }
            _ => None,
        };
        if let Some(Err(down)) = asked.map(|s| self.up(s)) {
            return Ok(down);
        }
        Ok(match cmd {
            PromptCommand::Transfer { from, to, amount } => self.transfer(from, to, amount),
            PromptCommand::Balance(x) => {
                let x = x.unwrap_or(own);
                match self.any().balance(x, x)? {
                    ApiMsg::Balance {
                        account,
                        balance,
                        height,
                    } => format!(
                        "balance of {account}: {balance} (its server's view, chain up to {height})"
                    ),
                    _ => format!("account {x} does not exist"),
                }
            }
            PromptCommand::Log(s) => {
                let s = s.unwrap_or(own);
                let (transfers, total) = self.any().log(s)?;
                show::log(&s.to_string(), &transfers, total)
            }
            PromptCommand::Chain(s) => {
                let s = s.unwrap_or(own);
                show::chain(&s.to_string(), &self.any().chain(s)?)
            }
            PromptCommand::Status => {
                let n = self.any().servers();
                let mut out = String::from("server  ballot  leading  tip  log\n");
                for i in 0..n {
                    let a = Account::of_server(i);
                    if let Err(down) = self.up(a) {
                        out.push_str(&format!("{:>6}  {down}\n", a.to_string()));
                        continue;
                    }
                    let line = match self.any().status(a) {
                        Ok(ApiMsg::Status {
                            promised,
                            leading,
                            tip,
                            pending,
                        }) => format!(
                            "{:>6}  {:<6}  {:<7}  {:>3}  {pending:>3}",
                            a.to_string(),
                            promised.to_string(),
                            leading,
                            tip.0
                        ),
                        _ => format!("{:>6}  unreachable", a.to_string()),
                    };
                    out.push_str(&line);
                    out.push('\n');
                }
                out
            }
            PromptCommand::Crash(s) | PromptCommand::Recover(s) if self.demo.is_none() => {
                format!("crash and recover {s} work in `paxchain demo` only")
            }
            PromptCommand::Crash(s) => self.demo.as_mut().expect("checked").crash(s),
            PromptCommand::Recover(s) => self.demo.as_mut().expect("checked").recover(s),
            PromptCommand::Help => HELP.to_string(),
            PromptCommand::Quit => String::new(),
        })
    }

    /// Reads commands from the terminal, with line editing and history (rustyline), until
    /// `quit` or Ctrl-D; a terminal that cannot edit falls back to plain lines.
    pub fn interactive(&mut self) -> std::io::Result<()> {
        use rustyline::error::ReadlineError;
        let Ok(mut editor) = rustyline::DefaultEditor::new() else {
            return self.prompt(std::io::stdin().lock(), std::io::stdout());
        };
        println!("commands: `help` lists them; up and down arrows recall earlier lines");
        loop {
            let line = match editor.readline("> ") {
                Ok(line) => line,
                Err(ReadlineError::Interrupted | ReadlineError::Eof) => return Ok(()),
                Err(e) => return Err(std::io::Error::other(e)),
            };
            let _ = editor.add_history_entry(line.as_str());
            match parse(&line) {
                Ok(None) => {}
                Ok(Some(PromptCommand::Quit)) => return Ok(()),
                Ok(Some(cmd)) => match self.run(cmd) {
                    Ok(text) => println!("{}", text.trim_end()),
                    Err(e) => println!("{e}"),
                },
                Err(e) => println!("{e}"),
            }
        }
    }

    /// Reads commands until `quit` or end of input.
    pub fn prompt(&mut self, input: impl BufRead, mut out: impl Write) -> std::io::Result<()> {
        write!(out, "> ")?;
        out.flush()?;
        for line in input.lines() {
            let line = line?;
            match parse(&line) {
                Ok(None) => {}
                Ok(Some(PromptCommand::Quit)) => return Ok(()),
                Ok(Some(cmd)) => match self.run(cmd) {
                    Ok(text) => writeln!(out, "{}", text.trim_end())?,
                    Err(e) => writeln!(out, "{e}")?,
                },
                Err(e) => writeln!(out, "{e}")?,
            }
            write!(out, "> ")?;
            out.flush()?;
        }
        writeln!(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        let b = Account(1);
        assert_eq!(
            parse("transfer B 4"),
            Ok(Some(PromptCommand::Transfer {
                from: None,
                to: b,
                amount: 4
            }))
        );
        assert_eq!(
            parse("as A transfer B 4"),
            Ok(Some(PromptCommand::Transfer {
                from: Some(Account(0)),
                to: b,
                amount: 4
            }))
        );
        assert_eq!(
            parse("(C, B, 2)"),
            Ok(Some(PromptCommand::Transfer {
                from: Some(Account(2)),
                to: b,
                amount: 2
            }))
        );
        assert_eq!(parse("balance"), Ok(Some(PromptCommand::Balance(None))));
        assert_eq!(
            parse("chain c"),
            Ok(Some(PromptCommand::Chain(Some(Account(2)))))
        );
        assert_eq!(parse("crash A"), Ok(Some(PromptCommand::Crash(Account(0)))));
        assert_eq!(parse(""), Ok(None));
        assert!(parse("transfer B 0").unwrap_err().contains("at least 1"));
        assert!(parse("transfer B lots")
            .unwrap_err()
            .contains("whole number"));
        assert!(parse("fly away").unwrap_err().contains("unknown command"));
    }
}
