//! `check --coverage`: which of the protocol's rules the search exercised, and which it
//! never did (model/src/rules.rs says how a rule is recognised).

use paxchain_model::rules::Rule;
use paxchain_model::BankModel;
use serde::Serialize;

/// One rule's row, as `--json` gives it.
#[derive(Serialize)]
pub struct JsonRule {
    pub rule: &'static str,
    pub section: &'static str,
    /// Distinct steps that fired it.
    pub steps: u64,
}

/// Every rule's count, for `--json`; empty when nothing could be counted (`--no-reduce`).
pub fn json(model: &BankModel) -> Vec<JsonRule> {
    if !model.cfg.reduce {
        return Vec::new();
    }
    (model.coverage.counts().into_iter())
        .map(|(r, steps)| JsonRule {
            rule: r.name(),
            section: r.section(),
            steps,
        })
        .collect()
}

/// The table: the rules that fired, by count, then those that never did, marked.
pub fn print(model: &BankModel) {
    println!();
    if !model.cfg.reduce {
        println!("rule coverage: not counted (it is read from the memo of steps, which --no-reduce turns off)");
        return;
    }
    let mut counts = model.coverage.counts();
    counts.sort_by_key(|(r, n)| (*n == 0, std::cmp::Reverse(*n), *r));
    let width = Rule::ALL.iter().map(|r| r.name().len()).max().unwrap_or(0);
    println!("rule coverage: distinct steps in which each rule of spec/protocol.md fired");
    println!("{:<width$}  {:<28} {:>9}", "rule", "section", "steps");
    for (r, n) in &counts {
        let shown = match n {
            0 => "NEVER".to_string(),
            n => n.to_string(),
        };
        println!("{:<width$}  {:<28} {shown:>9}", r.name(), r.section());
    }
    let never = counts.iter().filter(|(_, n)| *n == 0).count();
    println!(
        "{} of {} rules fired; {never} never did",
        counts.len() - never,
        counts.len()
    );
}

/// `paxchain-check coverage`: every light preset's complete search (`scenarios::HEAVY` take minutes), and the `default` scenario
/// under the `literal` variant, side by side: in how many distinct steps each rule fired
/// (`-`: never). Exit 1 if some rule fired in none of them.
pub fn matrix(threads: usize) -> std::process::ExitCode {
    use paxchain_model::search::Search;
    use paxchain_model::{scenarios, ModelConfig};
    use stateright::{Checker, HasDiscoveries};
    let mut columns: Vec<(String, ModelConfig)> = (scenarios::light().into_iter())
        .map(|s| (s.name.to_string(), s.config))
        .collect();
    let literal = ModelConfig {
        variant: paxchain::Variant::Literal,
        ..scenarios::by_name("default").expect("a preset").config
    };
    columns.push(("literal".into(), literal));
    let mut counts = Vec::new();
    for (name, cfg) in &columns {
        let model = paxchain_model::build(cfg);
        let options = paxchain_model::search::SearchOptions {
            threads: threads.max(1),
            // Past every violation: the literal variant's rules fire after its first.
            finish_when: HasDiscoveries::All,
            ..model.search_options()
        };
        Search::spawn(model.clone(), options).join();
        eprintln!("{name}: searched");
        counts.push(model.coverage.counts());
    }
    let width = Rule::ALL.iter().map(|r| r.name().len()).max().unwrap_or(0);
    print!("{:<width$}", "rule");
    for (name, _) in &columns {
        print!(" {:>w$}", name, w = name.len().max(6));
    }
    println!();
    let mut unexercised = Vec::new();
    for (k, rule) in Rule::ALL.iter().enumerate() {
        print!("{:<width$}", rule.name());
        for ((name, _), c) in columns.iter().zip(&counts) {
            let n = c[k].1;
            let shown = if n == 0 {
                "-".to_string()
            } else {
                n.to_string()
            };
            print!(" {:>w$}", shown, w = name.len().max(6));
        }
        println!();
        if counts.iter().all(|c| c[k].1 == 0) {
            unexercised.push(rule.name());
        }
    }
    if unexercised.is_empty() {
        println!("\nevery rule fired in some column");
        std::process::ExitCode::SUCCESS
    } else {
        println!("\nNEVER FIRED in any column: {}", unexercised.join(", "));
        std::process::ExitCode::from(1)
    }
}
