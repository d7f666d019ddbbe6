//! Transfers from a file or a prompt: `(A, B, 4)` as the course writes them, or `A B 4`.

use paxchain::Account;
use std::fmt;

/// A transfer as a person wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Triplet {
    pub from: Account,
    pub to: Account,
    pub amount: u64,
}

impl fmt::Display for Triplet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {}, {})", self.from, self.to, self.amount)
    }
}

/// Parses one line. `Ok(None)` for a blank or comment-only line (`#` starts a comment).
pub fn parse_line(line: &str) -> Result<Option<Triplet>, String> {
    let text = line.split('#').next().unwrap_or("").trim();
    if text.is_empty() {
        return Ok(None);
    }
    let inner = match (text.strip_prefix('('), text.strip_suffix(')')) {
        (Some(_), Some(_)) => &text[1..text.len() - 1],
        (None, None) => text,
        _ => return Err(format!("unbalanced parentheses in `{text}`")),
    };
    let parts: Vec<&str> = inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    let [from, to, amount] = parts[..] else {
        return Err(format!(
            "`{text}` is not a transfer: write (S, R, amount) or S R amount"
        ));
    };
    Ok(Some(Triplet {
        from: parse_account(from)?,
        to: parse_account(to)?,
        amount: parse_amount(amount)?,
    }))
}

/// An account letter, as people type it.
pub fn parse_account(word: &str) -> Result<Account, String> {
    Account::parse(word).map_err(|e| e.to_string())
}

/// An amount as people type it: a whole number of units, at least 1.
pub fn parse_amount(word: &str) -> Result<u64, String> {
    match word.parse::<u64>() {
        Ok(0) => Err("the amount must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "`{word}` is not a whole number of units (1 to 2^64-1)"
        )),
    }
}

/// What a file of transfers holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ParsedFile {
    /// The transfers, each with its line number.
    pub transfers: Vec<(usize, Triplet)>,
    /// The lines that are not transfers, each with its line number and what is wrong.
    pub errors: Vec<(usize, String)>,
}

/// Every line of a file; a bad line is an error of its own and loses nothing else.
pub fn parse_file(text: &str) -> ParsedFile {
    let mut parsed = ParsedFile::default();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(Some(t)) => parsed.transfers.push((i + 1, t)),
            Ok(None) => {}
            Err(e) => parsed.errors.push((i + 1, e)),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    fn t(from: u8, to: u8, amount: u64) -> Triplet {
        Triplet {
            from: Account(from),
            to: Account(to),
            amount,
        }
    }

    #[test]
    fn both_forms_comments_and_blanks() {
        assert_eq!(parse_line("(A, B, 4)"), Ok(Some(t(0, 1, 4))));
        assert_eq!(parse_line("  c a 10  # rent"), Ok(Some(t(2, 0, 10))));
        assert_eq!(parse_line("(A,B,4)"), Ok(Some(t(0, 1, 4))));
        assert_eq!(parse_line("# nothing"), Ok(None));
        assert_eq!(parse_line("   "), Ok(None));
    }

    #[test]
    fn garbage_is_an_error_naming_the_problem() {
        assert!(parse_line("(A, B, 4").unwrap_err().contains("parentheses"));
        assert!(parse_line("A B").unwrap_err().contains("not a transfer"));
        assert!(parse_line("A B -3").unwrap_err().contains("whole number"));
        assert!(parse_line("A B 99999999999999999999")
            .unwrap_err()
            .contains("whole number"));
        assert!(parse_line("A B 0").unwrap_err().contains("at least 1"));
        assert!(parse_line("AB C 1").unwrap_err().contains("not an account"));
    }

    #[test]
    fn a_file_keeps_good_lines_and_numbers_bad_ones() {
        let parsed = parse_file("(A, B, 4)\nnonsense\n\nB A 2\n");
        assert_eq!(parsed.transfers, vec![(1, t(0, 1, 4)), (4, t(1, 0, 2))]);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].0, 2);
    }

    quickcheck! {
        /// Whatever the line, parsing returns (never panics), and a printed triplet parses back.
        fn never_panics_and_round_trips(line: String, from: u8, to: u8, amount: u64) -> bool {
            let _ = parse_line(&line);
            let tr = t(from % 26, to % 26, amount.max(1));
            parse_line(&tr.to_string()) == Ok(Some(tr))
        }
    }
}
