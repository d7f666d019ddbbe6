//! One sentence for people on what a counterexample's last state got wrong, per property
//! (the properties themselves are in `crate::properties`; this only words their failure).
//!
//! A trace shows how; the sentence says what: "server B's chain replays into an overdraft:
//! A2 overdraws A", "servers A and B hold different blocks at #1". Each looks for the first
//! witness of its property's failure in the state, and says nothing if it finds none.

use crate::{BankModel, BankState};
use paxchain::chain::Chain;
use paxchain::{Account, ServerState};
use std::collections::BTreeSet;

/// What `property` finds wrong in `s`, in one sentence; `None` for a property without
/// wording or a state where it finds nothing.
pub fn what_went_wrong(m: &BankModel, s: &BankState, property: &str) -> Option<String> {
    let servers: Vec<(Account, &ServerState)> = (0..m.cfg.servers)
        .filter_map(|i| Some((Account::of_server(i), s.actor_states[i].server()?)))
        .collect();
    match property {
        "no double spend" => overdraft(m, &servers),
        "chain prefix agreement" => fork(&servers),
        "exactly once" => twice(&servers),
        "one leader per ballot" => two_leaders(s),
        "acknowledged transfers are never lost" => lost(m, s),
        "money conserved" => books_and_receipts(m, s, &servers),
        "validity" => Some("a chain or log holds a transfer its user never asked for".into()),
        "a server acts only on peer messages sealed for it" => (servers.iter())
            .find(|(_, st)| st.instrumentation.acted_on_relay)
            .map(|(a, _)| format!("server {a} acted on a peer message sealed for another server")),
        _ => None,
    }
}

fn books_and_receipts(
    m: &BankModel,
    s: &BankState,
    servers: &[(Account, &ServerState)],
) -> Option<String> {
    use crate::properties::{longest_chain, net_flows, scripted};
    let n = m.cfg.servers;
    let longest = longest_chain(m, s);
    let pending = servers.iter().flat_map(|(_, st)| st.storage.log.iter());
    let books = net_flows(
        n,
        longest
            .transfers()
            .chain(pending.filter(|t| !longest.contains(t.id))),
    );
    let mut receipts = Vec::new();
    for id in s.history.acknowledged.keys() {
        match scripted(m, *id) {
            Some(t) => receipts.push(t),
            None => return Some(format!("{id} was acknowledged, but no client asked for it")),
        }
    }
    let told = net_flows(n, receipts.into_iter());
    let k = (0..n).find(|&k| books[k] != told[k])?;
    Some(format!(
        "the books (the longest chain, then the logs) move account {} by {:+}, the \
         acknowledgements by {:+}",
        Account::of_server(k),
        books[k],
        told[k]
    ))
}

fn overdraft(m: &BankModel, servers: &[(Account, &ServerState)]) -> Option<String> {
    let (n, initial) = (m.cfg.servers, m.cfg.initial_balance);
    for (a, st) in servers {
        if let Err(e) = st.storage.chain.balances(n, initial) {
            return Some(format!("server {a}'s chain replays into an overdraft: {e}"));
        }
    }
    let longest: &Chain = servers
        .iter()
        .map(|(_, st)| &*st.storage.chain)
        .max_by_key(|c| c.len())?;
    let base = longest.balances(n, initial).ok()?;
    servers.iter().find_map(|(a, st)| {
        let mut b = base.clone();
        let pending = st.storage.log.iter().filter(|t| !longest.contains(t.id));
        b.apply_all(pending)
            .err()
            .map(|e| format!("server {a}'s log on top of the longest chain overdraws: {e}"))
    })
}

fn fork(servers: &[(Account, &ServerState)]) -> Option<String> {
    for (i, (a, x)) in servers.iter().enumerate() {
        for (b, y) in &servers[i + 1..] {
            let (cx, cy) = (x.storage.chain.blocks(), y.storage.chain.blocks());
            if let Some((p, q)) = cx.iter().zip(cy).find(|(p, q)| p != q) {
                return Some(format!(
                    "servers {a} and {b} hold different blocks at {}: {} under {} and {} under {}",
                    p.height,
                    p.hash.short(),
                    p.ballot,
                    q.hash.short(),
                    q.ballot
                ));
            }
        }
    }
    None
}

fn twice(servers: &[(Account, &ServerState)]) -> Option<String> {
    servers.iter().find_map(|(a, st)| {
        let chain = &st.storage.chain;
        if let Some((h, id)) = chain.first_duplicate() {
            return Some(format!(
                "server {a}'s chain holds transfer {id} twice (again at {h})"
            ));
        }
        let mut logged = BTreeSet::new();
        (st.storage.log.iter()).find_map(|t| match (chain.contains(t.id), logged.insert(t.id)) {
            (true, _) => Some(format!(
                "server {a} holds transfer {} in its chain and its log",
                t.id
            )),
            (_, false) => Some(format!("server {a}'s log holds transfer {} twice", t.id)),
            _ => None,
        })
    })
}

fn two_leaders(s: &BankState) -> Option<String> {
    let ps: Vec<_> = s.history.proposals.iter().collect();
    ps.iter().enumerate().find_map(|(i, p)| {
        ps[i + 1..].iter().find_map(|q| {
            let who = |l: stateright::actor::Id| Account::of_server(usize::from(l));
            if p.ballot == q.ballot && p.leader != q.leader {
                Some(format!(
                    "ballot {} was led by servers {} and {}",
                    p.ballot,
                    who(p.leader),
                    who(q.leader)
                ))
            } else if (p.ballot, p.height) == (q.ballot, q.height) && p.block != q.block {
                Some(format!(
                    "ballot {} proposed two blocks at {}: {} and {}",
                    p.ballot,
                    p.height,
                    p.block.short(),
                    q.block.short()
                ))
            } else {
                None
            }
        })
    })
}

fn lost(m: &BankModel, s: &BankState) -> Option<String> {
    s.history.acknowledged.keys().find_map(|id| {
        let owner = id.client.index();
        let saved = (owner < m.cfg.servers)
            .then(|| s.actor_storages[owner].as_ref())
            .flatten()
            .is_some_and(|st| st.log.contains(*id) || st.chain.contains(*id));
        (!saved).then(|| {
            format!(
                "{id} was acknowledged as executed, but server {}'s saved log and chain do not \
                 hold it",
                id.client
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::replay;
    use crate::{build, scenarios, ModelConfig};
    use stateright::Model;

    /// The literal variant's duplicated COMMIT (spec/deviations.md, 1), worded.
    #[test]
    fn the_literal_double_commit_is_worded_for_each_property_it_breaks() {
        let cfg = ModelConfig {
            variant: paxchain::Variant::Literal,
            ..scenarios::by_name("default").unwrap().config
        };
        let m = build(&cfg);
        let mut state = m.init_states().pop().unwrap();
        // Deliver, in turn, the first message the trace of spec/deviations.md delivers.
        let wanted = [
            "client A → server A: SUBMIT A1 (A, B, 1)",
            "server A → client A: OUTCOME A1: Executed",
            "client A → server A: SUBMIT A2 (A, C, 1)",
            "server A → server B: PREPARE ballot 1.A for #1",
            "server B → server A: PROMISE ballot 1.A for #1, pending []",
            "server A → server B: ACCEPT ballot 1.A n=#1 TX [(A, B, 1)]",
            "server B → server A: ACCEPTED ballot 1.A n=#1 TX []",
            "server A → server B: COMMIT ballot 1.A block #1 [(A, B, 1)]",
            "server A → server B: COMMIT ballot 1.A block #1 [(A, B, 1)]",
        ];
        let mut steps = Vec::new();
        for w in wanted {
            let mut actions = Vec::new();
            m.actions(&state, &mut actions);
            let step = (actions.iter().map(crate::trace::Step::from_action))
                .find(|s| s.describe(&m) == w)
                .unwrap_or_else(|| panic!("no step {w}"));
            steps.push(step);
            state = replay(&m, &steps).expect("a path");
        }
        assert_eq!(
            what_went_wrong(&m, &state, "exactly once").as_deref(),
            Some("server B's chain holds transfer A1 twice (again at #1)")
        );
        let overdraft = what_went_wrong(&m, &state, "no double spend").unwrap();
        assert!(
            overdraft.starts_with("server B's chain replays into an overdraft: A1 overdraws A"),
            "{overdraft}"
        );
        assert_eq!(what_went_wrong(&m, &state, "chain prefix agreement"), None);
    }
}
