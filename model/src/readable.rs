//! How an actor's state reads for people: what stateright's explorer shows.
//!
//! The explorer prints a state with `{:#?}`. Derived, that is hundreds of lines of nested
//! structs, `Arc`s and bit masks per server. So [`NodeState`]'s `Debug` in that alternate
//! form is the state as one would draw it: per server the ballot promised, the block
//! accepted, the chain (heights, ballots, short hashes, transfers), the log, the round it
//! leads and what it waits for; per client where its script is. (Messages in flight read
//! as the trace prints them: `Msg`'s alternate `Debug`.) The plain `{:?}` stays the
//! derived one, which diagnostics rely on for every field.

use crate::node::NodeState;
use paxchain::server::{Phase, Round};
use paxchain::ServerState;
use stateright::actor::Actor as _;
use std::fmt::{self, Write as _};

impl fmt::Debug for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (f.alternate(), self) {
            (true, NodeState::Server(s)) => f.write_str(&server(s)),
            (true, NodeState::Client(c)) => write!(
                f,
                "client: waiting for transfer {} of its script, {} resend(s) so far",
                c.next + 1,
                c.retries
            ),
            (true, NodeState::Rogue(r)) => write!(
                f,
                "rogue client: request {} of 7 next, answers {:?}",
                r.next + 1,
                r.answers
            ),
            (false, NodeState::Server(s)) => f.debug_tuple("Server").field(s).finish(),
            (false, NodeState::Client(c)) => f.debug_tuple("Client").field(c).finish(),
            (false, NodeState::Rogue(r)) => f.debug_tuple("Rogue").field(r).finish(),
        }
    }
}

impl fmt::Debug for crate::history::History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            return (f.debug_struct("History"))
                .field("acknowledged", &self.acknowledged)
                .field("proposals", &self.proposals)
                .field("relayed", &self.relayed)
                .finish();
        }
        let acked: Vec<String> = (self.acknowledged.iter())
            .map(|(id, after)| format!("{id}{}", if *after { " after consensus" } else { "" }))
            .collect();
        let sent: Vec<String> = (self.proposals.iter())
            .map(|p| {
                let leader = paxchain::Account::of_server(usize::from(p.leader));
                format!("{} {} {} by {leader}", p.height, p.ballot, p.block.short())
            })
            .collect();
        write!(
            f,
            "acknowledged as executed: [{}]; blocks proposed or committed: [{}]{}",
            acked.join(", "),
            sent.join(", "),
            if self.relayed {
                "; the attacker has relayed"
            } else {
                ""
            }
        )
    }
}

/// A server's state, a line per part.
pub fn server(s: &ServerState) -> String {
    let st = &s.storage;
    let mut out = format!("server: promised {}", st.promised);
    if let Some(h) = s.instrumentation.restarted_at {
        let _ = write!(out, " (restarted at {h})");
    }
    let accepted = match &st.accepted {
        Some(a) => format!(
            "{} under {}: {}",
            a.block.height,
            a.ballot,
            transfers(&a.block.transfers)
        ),
        None => "none".into(),
    };
    let _ = write!(out, "\n  accepted: {accepted}");
    let chain: Vec<String> = (st.chain.blocks().iter())
        .map(|b| {
            format!(
                "{} {} {} {}",
                b.height,
                b.ballot,
                b.hash.short(),
                transfers(&b.transfers)
            )
        })
        .collect();
    let _ = write!(out, "\n  chain: {}", chain.join(", "));
    let log: Vec<String> = st.log.iter().map(|t| t.to_string()).collect();
    let _ = write!(out, "\n  log: [{}]", log.join(" "));
    if let Some(r) = &s.round {
        let _ = write!(out, "\n  round: {}", round(r));
    }
    for (session, w) in &s.waiting {
        let _ = write!(
            out,
            "\n  waiting for consensus: {} {} (session {session}, since round {})",
            w.transfer.id, w.transfer, w.since_round
        );
    }
    if !s.staged.is_empty() {
        let staged: Vec<String> = s.staged.iter().map(|w| w.transfer.to_string()).collect();
        let _ = write!(out, "\n  staged for the next flush: [{}]", staged.join(" "));
    }
    let answered: Vec<String> = (st.last_outcomes.iter())
        .map(|(session, a)| format!("session {session}: {} {:?}", a.transfer.id, a.outcome))
        .collect();
    if !answered.is_empty() {
        let _ = write!(out, "\n  last answered: {}", answered.join(", "));
    }
    out
}

/// The round a server leads: its ballot and height, its phase and who voted.
fn round(r: &Round) -> String {
    let voters = |v: &paxchain::server::Voters| {
        let names: Vec<String> = (0..32)
            .filter(|&i| v.contains(i))
            .map(|i| paxchain::Account::of_server(i).to_string())
            .collect();
        names.join(" ")
    };
    let phase = match &r.phase {
        Phase::Electing {
            promised_by,
            highest,
            gathered,
            ..
        } => {
            let highest = match highest {
                Some(h) => format!(
                    "highest accepted {} under {}",
                    h.block.hash.short(),
                    h.ballot
                ),
                None => "no accepted block reported".into(),
            };
            let gathered = if *gathered { ", gathered" } else { "" };
            format!(
                "electing: promises from {}; {highest}{gathered}",
                voters(promised_by)
            )
        }
        Phase::Proposing {
            block,
            fresh,
            accepted_by,
        } => format!(
            "proposing {} {}{}: accepted by {}",
            block.hash.short(),
            transfers(&block.transfers),
            if *fresh { " (fresh)" } else { "" },
            voters(accepted_by)
        ),
        Phase::Collecting { accepted_by, .. } => {
            format!("collecting (literal): accepted by {}", voters(accepted_by))
        }
    };
    format!("leads {} for {}, {phase}", r.ballot, r.height)
}

fn transfers(ts: &[paxchain::Transfer]) -> String {
    let items: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
    format!("[{}]", items.join(" "))
}

/// The explorer's account of one step: what happened, then each actor whose state changed,
/// its lines marked `*` where they differ from before, then the messages it put in flight.
pub fn step(
    model: &crate::BankModel,
    last: &crate::BankState,
    action: crate::bank_model::Action,
) -> Option<String> {
    use stateright::Model;
    let described = crate::trace::Step::from_action(&action).describe(model);
    let Some(next) = model.next_state(last, action) else {
        return Some(format!(
            "{described}\n\nnothing changes: the step is not taken"
        ));
    };
    let mut out = described;
    // The explorer's own panel does not say which property a state breaks: the step does.
    for p in model.properties.iter() {
        let always = p.expectation == stateright::Expectation::Always;
        if always && !(p.condition)(model, &next) {
            let why = crate::explain::what_went_wrong(model, &next, p.name);
            let why = why.map(|w| format!(": {w}")).unwrap_or_default();
            let _ = write!(out, "\nBREAKS \"{}\"{why}", p.name);
        }
    }
    for (i, actor) in model.actors.iter().enumerate() {
        let (before, after) = (&last.actor_states[i], &next.actor_states[i]);
        let crashed = (last.crashed[i], next.crashed[i]);
        if before == after && crashed.0 == crashed.1 {
            continue;
        }
        let down = if crashed.1 { " (crashed)" } else { "" };
        let _ = write!(out, "\n\n{}{down}:", actor.name());
        let old: Vec<String> = format!("{before:#?}").lines().map(String::from).collect();
        for line in format!("{after:#?}").lines() {
            let mark = if old.iter().any(|o| o == line) {
                ' '
            } else {
                '*'
            };
            let _ = write!(out, "\n{mark} {line}");
        }
    }
    // What the step put in flight: the copies the network holds now beyond those it held.
    let mut was = crate::network::envelopes(&last.network);
    let sent: Vec<String> = (crate::network::envelopes(&next.network).into_iter())
        .filter(|e| match was.iter().position(|w| w == e) {
            Some(k) => {
                was.remove(k);
                false
            }
            None => true,
        })
        .map(|e| {
            let who = |id: stateright::actor::Id| model.actors[usize::from(id)].name();
            format!("  {} → {}: {}", who(e.src), who(e.dst), e.msg)
        })
        .collect();
    if !sent.is_empty() {
        let _ = write!(out, "\n\nnow in flight:\n{}", sent.join("\n"));
    }
    Some(out)
}

/// A whole state for a page: each actor by name (crashed ones marked) as the explorer shows
/// it, then every message in flight as a trace line.
pub fn state(model: &crate::BankModel, s: &crate::BankState) -> String {
    let mut out = String::new();
    for (i, actor) in model.actors.iter().enumerate() {
        let down = if s.crashed[i] { " (crashed)" } else { "" };
        let _ = writeln!(out, "{}{down}:\n  {:#?}", actor.name(), s.actor_states[i]);
    }
    let who = |id: stateright::actor::Id| model.actors[usize::from(id)].name();
    let flying: Vec<String> = (crate::network::envelopes(&s.network).iter())
        .map(|e| format!("  {} → {}: {}", who(e.src), who(e.dst), e.msg))
        .collect();
    let _ = write!(out, "in flight:\n{}", flying.join("\n"));
    out
}

#[cfg(test)]
mod tests {
    use crate::{build, scenarios};
    use stateright::Model;

    /// The explorer offers only what the model takes: servers crash, clients never do.
    #[test]
    fn only_servers_are_offered_a_crash() {
        let model = build(&scenarios::by_name("crash-loss").unwrap().config);
        let init = model.init_states().pop().unwrap();
        let mut actions = Vec::new();
        model.actions(&init, &mut actions);
        let crashes: Vec<usize> = (actions.iter())
            .filter_map(|a| match a {
                stateright::actor::ActorModelAction::Crash(id) => Some(usize::from(*id)),
                _ => None,
            })
            .collect();
        assert!(!crashes.is_empty(), "a server may crash here");
        assert!(
            crashes.iter().all(|&i| i < model.cfg.servers),
            "{crashes:?}"
        );
    }

    /// The explorer's `{:#?}` of a state reads as people would draw it; `{:?}` stays whole.
    #[test]
    fn a_state_reads_as_drawn_in_the_explorer_and_whole_in_diagnostics() {
        let model = build(&scenarios::by_name("default").unwrap().config);
        let init = model.init_states().pop().unwrap();
        let shown = format!("{init:#?}");
        assert!(shown.contains("server: promised 0.A"), "{shown}");
        assert!(shown.contains("chain: #0 0.A"), "{shown}");
        assert!(
            shown.contains("SUBMIT A1 (A, B, 1)"),
            "messages read as in a trace: {shown}"
        );
        assert!(!shown.contains("Hashed"), "{shown}");
        let plain = format!("{:?}", init.actor_states[0]);
        assert!(plain.starts_with("Server("), "{plain}");
        assert!(plain.contains("promised: Ballot"), "{plain}");
    }
}
