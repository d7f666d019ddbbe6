//! The checks at the end of a torture run, on the whole history and on what each server
//! shows after the heal. Each failure names the check, the transfer ids, and what each
//! server showed (see spec/torture.md).

use super::load::Record;
use paxchain::chain::Chain;
use paxchain::ledger::Balances;
use paxchain::{Account, Block, Transfer, TxId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What one server showed after the heal.
#[derive(Clone, Debug)]
pub struct View {
    pub chain: Vec<Block>,
    pub log: Vec<Transfer>,
    /// The balance of its own account it reported.
    pub balance: u64,
}

/// A failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The check's number and name, as spec/torture.md lists them.
    pub check: &'static str,
    pub detail: String,
}

/// The checks' names, in order.
pub const CHECKS: [&str; 9] = [
    "1 identical chains with valid links",
    "2 every executed transfer kept exactly once",
    "3 nothing refused or never submitted in a chain",
    "4 no overdraft in the chain",
    "5 money conserved",
    "6 reported balances equal chain plus log",
    "7 every request after the heal answered",
    "8 the chain audits: every transfer signed by its owner",
    "9 every forgery refused and counted",
];

/// Check 9: each server the `forge` fault sent forgeries to refused each one and counted
/// exactly the peer datagrams among them as not authentic.
pub fn forgeries(forgeries: &[super::forge::Forgery]) -> Vec<Failure> {
    (forgeries.iter().filter_map(super::forge::Forgery::fault))
        .map(|detail| Failure {
            check: CHECKS[8],
            detail,
        })
        .collect()
}

/// Runs every check; the failures, empty when the run passed.
pub fn check(records: &[Record], views: &[Option<View>], initial: u64) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut fail = |i: usize, detail: String| {
        out.push(Failure {
            check: CHECKS[i],
            detail,
        })
    };
    let n = views.len();
    let Some(views) = views.iter().cloned().collect::<Option<Vec<View>>>() else {
        let silent: Vec<String> = (views.iter().enumerate())
            .filter(|(_, v)| v.is_none())
            .map(|(i, _)| Account::of_server(i).to_string())
            .collect();
        fail(
            6,
            format!(
                "servers {} did not answer after the heal",
                silent.join(", ")
            ),
        );
        return out;
    };
    // 1 and 4: one chain, linked, replaying without overdraft.
    let chain = match to_chain(&views[0].chain) {
        Ok(c) => c,
        Err(e) => {
            fail(0, format!("server A's chain: {e}"));
            return out;
        }
    };
    for (i, v) in views.iter().enumerate().skip(1) {
        if v.chain != views[0].chain {
            let tips = |c: &[Block]| c.last().map_or(0, |b| b.height.0);
            fail(
                0,
                format!(
                    "server {} has {} blocks, server A {}; first difference at height {}",
                    Account::of_server(i),
                    tips(&v.chain),
                    tips(&views[0].chain),
                    first_difference(&v.chain, &views[0].chain)
                ),
            );
        }
    }
    let balances = match chain.verify(n, initial) {
        Ok(b) => b,
        Err(e) => {
            fail(3, format!("{e}"));
            return out;
        }
    };
    kept_once(records, &chain, &views, &mut fail);
    // 5: the chain's balances plus every pending log still hold all the money.
    let mut all = Balances::new(n, initial);
    let pending = views.iter().flat_map(|v| v.log.iter());
    if let Err(e) = all.apply_all(chain.transfers().chain(pending)) {
        fail(4, format!("chain plus logs do not replay: {e}"));
    } else if all.total() != u128::from(initial) * n as u128 {
        fail(
            4,
            format!("{} units, not {}", all.total(), initial * n as u64),
        );
    }
    // 6: each server's own balance, as it reported it.
    for (i, v) in views.iter().enumerate() {
        let account = Account::of_server(i);
        let mut b = Balances::new(n, initial);
        let replayed = b
            .apply_all(chain.transfers().chain(&v.log))
            .map(|_| b.of(account));
        if replayed.as_ref().ok() != Some(&v.balance) {
            fail(
                5,
                format!(
                    "server {account} reported {}, chain plus its log give {replayed:?}",
                    v.balance
                ),
            );
        }
    }
    let _ = balances;
    // 7: the final requests.
    for r in records
        .iter()
        .filter(|r| r.kind == super::load::Kind::Final)
    {
        if r.outcome.is_none() {
            fail(6, format!("{} got no answer after the heal", r.id));
        }
    }
    out
}

/// 2 and 3: executed transfers are in the chain once and unchanged, or pending at their
/// owner; nothing refused or never submitted is anywhere.
fn kept_once(
    records: &[Record],
    chain: &Chain,
    views: &[View],
    fail: &mut impl FnMut(usize, String),
) {
    let by_id: BTreeMap<TxId, &Record> = records.iter().map(|r| (r.id, r)).collect();
    let mut seen: BTreeMap<TxId, (Transfer, &str)> = BTreeMap::new();
    let placed = (chain.transfers().map(|t| (t, "the chain"))).chain(
        views
            .iter()
            .flat_map(|v| v.log.iter().map(|t| (t, "a log"))),
    );
    for (t, place) in placed {
        if let Some((_, first)) = seen.insert(t.id, (t.clone(), place)) {
            fail(1, format!("{} is in {first} and in {place}", t.id));
        }
        match by_id.get(&t.id) {
            None => fail(2, format!("{} ({t}) in {place} was never submitted", t.id)),
            Some(r) if r.outcome.as_ref().is_some_and(|o| !o.is_executed()) => fail(
                2,
                format!("{} in {place} was refused: {:?}", t.id, r.outcome),
            ),
            Some(r) if (r.from, r.to, r.amount) != (t.from, t.to, t.amount) => fail(
                1,
                format!(
                    "{} in {place} is {t}, submitted as {} {} {}",
                    t.id, r.from, r.to, r.amount
                ),
            ),
            Some(_) => {}
        }
    }
    let lost: BTreeSet<TxId> = (records.iter())
        .filter(|r| r.executed() && !seen.contains_key(&r.id))
        .map(|r| r.id)
        .collect();
    if !lost.is_empty() {
        let ids: Vec<String> = lost.iter().map(ToString::to_string).collect();
        fail(
            1,
            format!("executed but in no chain or log: {}", ids.join(", ")),
        );
    }
}

fn to_chain(blocks: &[Block]) -> Result<Chain, String> {
    let mut chain = Chain::new();
    if blocks.first() != Some(chain.tip()) {
        return Err("it does not start at the genesis block".into());
    }
    for b in &blocks[1..] {
        chain
            .append(Arc::new(b.clone()))
            .map_err(|e| format!("height {}: {e}", b.height))?;
    }
    Ok(chain)
}

fn first_difference(a: &[Block], b: &[Block]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::super::load::Kind;
    use super::*;
    use paxchain::{Ballot, Height, Outcome};

    const A: Account = Account(0);
    const B: Account = Account(1);

    fn record(seq: u32, amount: u64, outcome: Option<Outcome>) -> Record {
        Record {
            id: TxId::new(A, seq),
            from: A,
            to: B,
            amount,
            kind: Kind::Small,
            sent_ms: 0,
            answered_ms: 1,
            outcome,
        }
    }

    fn view(chain: &[Block], log: &[Transfer], balance: u64) -> Option<View> {
        Some(View {
            chain: chain.to_vec(),
            log: log.to_vec(),
            balance,
        })
    }

    /// A one-block chain holding `r`'s transfer.
    fn chain_of(r: &Record) -> Vec<Block> {
        let g = Block::genesis();
        let t = Transfer::model_signed(r.id, r.from, r.to, r.amount);
        let b = Block::new(Height(1), Ballot::new(1, 0), g.hash, vec![t]);
        vec![g, b]
    }

    #[test]
    fn a_clean_history_passes() {
        let r = record(1, 2, Some(Outcome::Executed));
        let c = chain_of(&r);
        let views = [view(&c, &[], 8), view(&c, &[], 12)];
        assert_eq!(check(&[r], &views, 10), vec![]);
    }

    #[test]
    fn each_kind_of_damage_fails_the_check_that_names_it() {
        let r = record(1, 2, Some(Outcome::Executed));
        let c = chain_of(&r);
        let checks = |records: &[Record], views: &[Option<View>]| -> Vec<&str> {
            check(records, views, 10)
                .into_iter()
                .map(|f| f.check)
                .collect()
        };
        // An executed transfer lost by every server.
        let g = vec![Block::genesis()];
        assert_eq!(
            checks(
                std::slice::from_ref(&r),
                &[view(&g, &[], 10), view(&g, &[], 10)]
            ),
            [CHECKS[1]]
        );
        // A refused transfer in the chain.
        let refused = record(
            1,
            2,
            Some(Outcome::Rejected {
                reason: paxchain::Rejection::ZeroAmount,
            }),
        );
        assert!(checks(&[refused], &[view(&c, &[], 8), view(&c, &[], 12)]).contains(&CHECKS[2]));
        // Two servers with different chains.
        assert!(checks(
            std::slice::from_ref(&r),
            &[view(&c, &[], 8), view(&g, &[], 10)]
        )
        .contains(&CHECKS[0]));
        // A reported balance the chain does not give.
        assert_eq!(
            checks(
                std::slice::from_ref(&r),
                &[view(&c, &[], 9), view(&c, &[], 12)]
            ),
            [CHECKS[5]]
        );
        // The same transfer in the chain and still in a log.
        let t = c[1].transfers[0].clone();
        assert!(checks(
            std::slice::from_ref(&r),
            &[view(&c, &[t], 6), view(&c, &[], 12)]
        )
        .contains(&CHECKS[1]));
        // A final request without an answer.
        let last = Record {
            kind: Kind::Final,
            ..record(2, 99, None)
        };
        assert_eq!(
            checks(&[r, last], &[view(&c, &[], 8), view(&c, &[], 12)]),
            [CHECKS[6]]
        );
    }
}
