//! Every property the checker verifies, in the paper's vocabulary.
//!
//! Each `Always` property has a `Sometimes` partner that proves the states it speaks about
//! are reached at all (an invariant over states that never occur passes vacuously):
//!
//! | Always                              | Sometimes partner                                   |
//! |-------------------------------------|-----------------------------------------------------|
//! | no double spend                     | a short-balance transfer succeeds after consensus  |
//! | chain prefix agreement              | a block is committed on two servers (and, with two clients going short and a second round, a third ballot's leader hears two different accepted blocks) |
//! | one leader per ballot               | a second ballot takes over; with two clients going short, two leaders propose at one height, and a server accepts from one leader after promising the other |
//! | money conserved                     | a block is committed on two servers                |
//! | exactly once                        | a retried transfer is answered; with two sessions at one server, one save answers two sessions |
//! | acknowledged transfers are never lost | a short-balance transfer succeeds after consensus (and, with crashes, a crashed server recovers and catches up; with two clients going short too, a restarted server votes in a competing ballot) |
//! | validity                            | a block is committed on two servers                |
//! | every executed transfer was signed by its sender's owner | a short-balance transfer succeeds after consensus; with a rogue client, every bad request is answered |
//! | bad requests are refused (with a rogue client) | every bad request is answered            |
//! | a server acts only on peer messages sealed for it (with the attacker) | the attacker relays a peer message to a server it was not sealed for |
//!
//! spec/bugs.md shows each `always` failing for a realistic seeded bug.
//!
//! Chains and logs are read from the servers' in-memory state, which every handler saves in
//! the same step it changes; "never lost" reads the saved storage itself, as a crash would.

pub use crate::bank_model::{BankModel, BankState};
use crate::config::ModelConfig;
use crate::history::Proposal;
use crate::node::{Node, NodeState};
use crate::scripted_client::{ScriptedClient, ScriptedClientState};
use paxchain::server::{Phase, Round};
use paxchain::{signature, Chain, Outcome, ServerState, Storage, Transfer, TxId};
use stateright::{Expectation, Property};
use std::collections::{BTreeMap, BTreeSet};

fn servers<'a>(m: &BankModel, s: &'a BankState) -> impl Iterator<Item = &'a ServerState> {
    s.actor_states[..m.cfg.servers]
        .iter()
        .map(|a| a.server().expect("the first actors are the servers"))
}

pub(crate) fn longest_chain<'a>(m: &BankModel, s: &'a BankState) -> &'a Chain {
    servers(m, s)
        .map(|st| &*st.storage.chain)
        .max_by_key(|c| c.len())
        .expect("at least one server")
}

fn n_and_initial(m: &BankModel) -> (usize, u64) {
    (m.cfg.servers, m.cfg.initial_balance)
}

/// **No double spend.** Replaying any server's chain from the initial balances never drives
/// an account below zero; and no account's balance on the longest chain, minus the debits
/// still pending in its owner's log, is below zero.
///
/// Why: the whole point of the bank. The fast path spends on a server's local knowledge, so
/// this is where an optimistic protocol would break.
///
/// How: replay with checked arithmetic (`Balances::apply` refuses an overdraft) in every
/// reachable state.
pub fn no_double_spend(m: &BankModel, s: &BankState) -> bool {
    let (n, initial) = n_and_initial(m);
    let longest = longest_chain(m, s);
    let Ok(base) = longest.balances(n, initial) else {
        return false;
    };
    servers(m, s).all(|st| {
        let mut b = base.clone();
        st.storage.chain.balances(n, initial).is_ok()
            && b.apply_all(st.storage.log.iter().filter(|t| !longest.contains(t.id)))
                .is_ok()
    })
}

/// **Chain prefix agreement.** Of any two servers' chains, one is a prefix of the other,
/// block for block.
///
/// Why: "every server appends the same block": the replicated ledger is one ledger.
///
/// How: pairwise prefix comparison in every reachable state.
pub fn chain_prefix_agreement(m: &BankModel, s: &BankState) -> bool {
    let chains: Vec<&Chain> = servers(m, s).map(|st| &*st.storage.chain).collect();
    chains.iter().enumerate().all(|(i, a)| {
        chains[i + 1..]
            .iter()
            .all(|b| a.is_prefix_of(b) || b.is_prefix_of(a))
    })
}

/// **One leader per ballot.** Every ACCEPT and COMMIT ever sent under a ballot comes from one
/// server, and carries one block per height.
///
/// Why: Paxos' safety rests on a ballot proposing at most one value. A leader that forgot its
/// ballot in a crash could lead it again with a different block.
///
/// How: the history records every ACCEPT and COMMIT sent (crashes cannot erase it).
pub fn one_leader_per_ballot(_: &BankModel, s: &BankState) -> bool {
    proposals_agree(&s.history.proposals)
}

/// The heart of [`one_leader_per_ballot`]: one sender per ballot, one block per ballot and
/// height.
pub fn proposals_agree(proposals: &BTreeSet<Proposal>) -> bool {
    let mut leader_of = BTreeMap::new();
    let mut block_of = BTreeMap::new();
    proposals.iter().all(|p| {
        *leader_of.entry(p.ballot).or_insert(p.leader) == p.leader
            && *block_of.entry((p.ballot, p.height)).or_insert(p.block) == p.block
    })
}

/// **Money conserved.** For every account, the bank's books move exactly the money its
/// receipts say: the longest chain, then every server's log of transfers not yet on it,
/// credit and debit each account by the same amounts as the transfers the servers
/// acknowledged as executed.
///
/// Why: every transfer conserves money, so the bank can only create or destroy money (as
/// its clients see it) by holding a transfer nobody was told was executed, by losing one
/// that somebody was, or by holding one twice. A bank whose books and receipts disagree has
/// minted or burnt money even if its sums add up.
///
/// How: per account, credits minus debits of the books and of the acknowledged transfers
/// (the history's ids, rebuilt from the clients' scripts), compared in every state.
/// Overdrafts are `no double spend`'s to judge: the flows are not replayed in order.
pub fn money_conserved(m: &BankModel, s: &BankState) -> bool {
    let n = m.cfg.servers;
    let longest = longest_chain(m, s);
    let pending = servers(m, s).flat_map(|st| st.storage.log.iter());
    let books = net_flows(
        n,
        (longest.transfers()).chain(pending.filter(|t| !longest.contains(t.id))),
    );
    let mut receipts = Vec::new();
    for id in s.history.acknowledged.keys() {
        match scripted(m, *id) {
            Some(t) => receipts.push(t),
            None => return false, // an acknowledgement for a transfer nobody asked for
        }
    }
    books == net_flows(n, receipts.into_iter())
}

/// Credits minus debits of `transfers`, per account.
pub(crate) fn net_flows<'a>(n: usize, transfers: impl Iterator<Item = &'a Transfer>) -> Vec<i128> {
    let mut flows = vec![0i128; n];
    for t in transfers {
        let amount = i128::from(t.amount);
        flows[t.from.index()] -= amount;
        flows[t.to.index()] += amount;
    }
    flows
}

/// The transfer a client's script gives id `id`, if any.
pub(crate) fn scripted(m: &BankModel, id: TxId) -> Option<&Transfer> {
    m.scripted.get(&id)
}

/// **Exactly once.** No transfer id appears twice in a chain, nor both in a server's chain
/// and in that server's log.
///
/// Why: clients retry and UDP duplicates; a transfer executed twice is money taken twice.
///
/// How: the chain audit's duplicate check on each chain, and each log's ids against
/// themselves and their own chain, in every state.
pub fn exactly_once(m: &BankModel, s: &BankState) -> bool {
    servers(m, s).all(|st| {
        let chain = &st.storage.chain;
        let mut logged = BTreeSet::new();
        chain.first_duplicate().is_none()
            && (st.storage.log.iter()).all(|t| !chain.contains(t.id) && logged.insert(t.id))
    })
}

/// **Acknowledged transfers are never lost.** A transfer its server acknowledged as executed
/// is in that server's *saved* log or chain, forever.
///
/// Why: an acknowledgement is a promise to the client; a crash must not break it.
///
/// How: the history records every executed outcome sent; the property reads the saved
/// storage (not the in-memory state, which a crash leaves behind for inspection).
pub fn acknowledged_never_lost(m: &BankModel, s: &BankState) -> bool {
    s.history.acknowledged.keys().all(|id| {
        let owner = id.client.index();
        owner < m.cfg.servers
            && s.actor_storages[owner]
                .as_ref()
                .is_some_and(|st: &Storage| st.log.contains(*id) || st.chain.contains(*id))
    })
}

/// **Validity.** Every transfer in a chain or a log is one its sender's user asked for,
/// exactly as asked, under the id the script gave it.
///
/// Why: servers relay other servers' transfers; none may invent or alter one, and a client
/// may not turn one request into two.
///
/// How: compare every chained and logged transfer with the clients' scripts, field by field
/// (who signed it is "signed by its sender's owner"'s to judge).
pub fn validity(m: &BankModel, s: &BankState) -> bool {
    let asked = |t: &Transfer| {
        scripted(m, t.id)
            .is_some_and(|want| (want.from, want.to, want.amount) == (t.from, t.to, t.amount))
    };
    servers(m, s).all(|st| {
        let storage = &st.storage;
        (storage.chain.transfers().chain(storage.log.iter())).all(asked)
    })
}

/// **Every executed transfer was signed by its sender's owner.** Every transfer in a chain
/// or a log carries its sender account's signature, over every one of its fields.
///
/// Why: only an account's owner may move its money. Servers relay each other's transfers
/// and a forger on the network sees every signed request, so a server must refuse what its
/// owner did not sign whatever path it would take (at once, or after a round), and a
/// signature must cover everything it vouches for.
///
/// How: the model's signatures are abstract (the signer, and a digest of the bytes signed);
/// each logged and chained transfer's is compared with its owner's signature of exactly
/// that transfer, in every state. The rogue client forges: it sends a captured transfer
/// again with another amount and the captured signature.
pub fn signed_by_owner(m: &BankModel, s: &BankState) -> bool {
    servers(m, s).all(|st| {
        let storage = &st.storage;
        (storage.chain.transfers().chain(storage.log.iter()))
            .all(|t| t.signature == signature::model_signature(t, false))
    })
}

/// **Bad requests are refused.** Every answer the rogue client gets is a rejection: a zero
/// amount, an unknown account, another account's money, a transfer to oneself, and a
/// different transfer under an id its server already answered.
///
/// Why: a bank must not move money on a malformed or forged request, nor tell a client a
/// transfer ran when it did not. The last case is the subtle one: a server that only
/// remembers the last answered *id* answers a second transfer under it with the first
/// one's outcome ("Executed"), a lie about a transfer that never ran.
///
/// How: the rogue client (`rogue_client`, only in configurations with `rogue`) records
/// every answer; checked in every state. That none of its transfers reaches a log or a
/// chain is `validity`'s job.
pub fn bad_requests_refused(_: &BankModel, s: &BankState) -> bool {
    (s.actor_states.iter())
        .filter_map(|a| a.rogue())
        .all(|r| (r.answers.iter()).all(|o| matches!(o, Outcome::Rejected { .. })))
}

/// **A server acts only on peer messages sealed for it.** No server changes its state or
/// sends anything on a relayed peer message whose seal names another receiver.
///
/// Why: an attacker on the network sees every peer datagram and can send it anywhere. A
/// PROMISE, an ACCEPTED or a catch-up is about the pair it passed between; read by a third
/// server as if addressed to it, it is a vote or a block that server was never given. The
/// seal binds both ends (deployed, a MAC under the pair's key), and a server must check
/// both.
///
/// How: with `attacker` (model/src/attacker.rs) every peer message is also relayed to every
/// other server and back to its sender; the model notes, in the receiver's instrumentation,
/// a delivery of a relay not sealed for it on which the handler acted. Checked in every
/// state. Reduction 4 takes each relay the receiver ignores for good out of the network in
/// the step that sends it, and only if the real handler does nothing with it.
pub fn acts_only_on_sealed_for_it(m: &BankModel, s: &BankState) -> bool {
    servers(m, s).all(|st| !st.instrumentation.acted_on_relay)
}

/// Sometimes: the attacker has relayed a peer message to a server it was not sealed for.
pub fn relayed_elsewhere(_: &BankModel, s: &BankState) -> bool {
    s.history.relayed
}

/// Sometimes: the rogue client has had every request answered, the reused id's included.
pub fn every_bad_request_answered(_: &BankModel, s: &BankState) -> bool {
    (s.actor_states.iter())
        .filter_map(|a| a.rogue())
        .any(|r| r.answered_all())
}

/// Sometimes: a block other than genesis is on at least two servers' chains.
pub fn block_committed(m: &BankModel, s: &BankState) -> bool {
    servers(m, s)
        .filter(|st| st.storage.chain.len() > 1)
        .count()
        >= 2.min(m.cfg.servers)
}

/// Sometimes: two different ballots proposed a block for the same height (a takeover).
pub fn second_ballot_takes_over(_: &BankModel, s: &BankState) -> bool {
    two_proposals_at_one_height(s, |a, b| a.ballot != b.ballot)
}

/// Whether two proposals for one height differ as `differ` says.
fn two_proposals_at_one_height(s: &BankState, differ: fn(&Proposal, &Proposal) -> bool) -> bool {
    let p = &s.history.proposals;
    p.iter()
        .any(|a| p.iter().any(|b| a.height == b.height && differ(a, b)))
}

/// Sometimes (contested scenarios): two different servers proposed a block for one height:
/// a real takeover, not a leader retrying its own election.
pub fn two_leaders_at_one_height(_: &BankModel, s: &BankState) -> bool {
    two_proposals_at_one_height(s, |a, b| a.leader != b.leader)
}

/// Sometimes (contested scenarios): a server promised one leader's ballot, and then accepted
/// another leader's higher one while the first still counts its promise: the step where a
/// follower's bookkeeping spans two leaders.
///
/// How, from the state alone (no history to grow): a leader electing under ballot `b` counts
/// server `i`'s promise, and `i` has accepted a block under a higher ballot led by another
/// server. Promises only rise, so `i` promised `b` before it accepted the other.
pub fn accepts_after_promising_another(m: &BankModel, s: &BankState) -> bool {
    let all: Vec<&ServerState> = servers(m, s).collect();
    all.iter().any(|leader| {
        leader.round.as_ref().is_some_and(|r| {
            matches!(r.phase, Phase::Electing { .. })
                && all.iter().enumerate().any(|(i, voter)| {
                    r.phase.voters().contains(i)
                        && (voter.storage.accepted.as_ref()).is_some_and(|a| {
                            a.ballot > r.ballot && a.ballot.leader != r.ballot.leader
                        })
                })
        })
    })
}

/// Sometimes (contested scenarios with a second ballot round): a leader gathering promises
/// has heard of two different blocks accepted for its height, under two earlier ballots:
/// so its own is at least the third, and the rule "propose the one with the highest
/// ballot" is what stands between it and a fork.
///
/// How, from the state alone: the leader's highest reported block is one, and a server whose
/// promise it counted holds another, accepted for the same height under a lower ballot than
/// the leader's. A server that promised a ballot accepts nothing below it afterwards, so that
/// block is the one its promise carried.
pub fn leader_hears_two_accepted_blocks(m: &BankModel, s: &BankState) -> bool {
    let all: Vec<&ServerState> = servers(m, s).collect();
    all.iter().any(|leader| match &leader.round {
        Some(Round {
            ballot,
            height,
            phase:
                Phase::Electing {
                    promised_by,
                    highest: Some(heard),
                    ..
                },
        }) => all.iter().enumerate().any(|(i, voter)| {
            promised_by.contains(i)
                && (voter.storage.accepted.as_ref())
                    .is_some_and(|a| a.block.height == *height && a.ballot < *ballot && a != heard)
        }),
        _ => false,
    })
}

/// Sometimes (contested scenarios with crashes): a leader's round counts the vote of another
/// server that has crashed and restarted from its storage, and which stands by that vote:
/// the place where a forgotten promise or accepted block would break a quorum.
pub fn restarted_server_votes_for_a_competitor(m: &BankModel, s: &BankState) -> bool {
    let all: Vec<&ServerState> = servers(m, s).collect();
    all.iter().enumerate().any(|(j, leader)| {
        leader.round.as_ref().is_some_and(|r| {
            all.iter().enumerate().any(|(i, voter)| {
                i != j
                    && voter.instrumentation.restarted_at.is_some()
                    && voter.storage.promised == r.ballot
                    && r.phase.voters().contains(i)
            })
        })
    })
}

/// Sometimes: a transfer the fast path could not cover was executed after consensus.
pub fn succeeds_after_consensus(_: &BankModel, s: &BankState) -> bool {
    s.history.acknowledged.values().any(|&after| after)
}

/// Sometimes (scenarios where an account has two sessions): one flush saved and answered
/// two sessions' transfers together: group commit.
pub fn one_save_answers_two_sessions(m: &BankModel, s: &BankState) -> bool {
    servers(m, s).any(|st| st.instrumentation.batched)
}

/// Sometimes: a client resent a transfer and then got its outcome.
pub fn retried_transfer_answered(m: &BankModel, s: &BankState) -> bool {
    clients(m, s).any(|(_, c)| c.answered_after_retry > 0)
}

/// Sometimes: a server restarted from its storage and then appended blocks it had missed.
pub fn crashed_server_catches_up(m: &BankModel, s: &BankState) -> bool {
    servers(m, s).any(|st| {
        (st.instrumentation.restarted_at).is_some_and(|h| st.storage.chain.tip().height > h)
    })
}

/// Eventually (fault-free scenarios): every client has an outcome for every transfer.
pub fn every_request_answered(m: &BankModel, s: &BankState) -> bool {
    clients(m, s).all(|(actor, c)| actor.is_done(c))
}

fn clients<'a>(
    m: &'a BankModel,
    s: &'a BankState,
) -> impl Iterator<Item = (&'a ScriptedClient, &'a ScriptedClientState)> {
    m.actors
        .iter()
        .zip(&s.actor_states)
        .filter_map(|(a, st)| match (a, &**st) {
            (Node::Client(a), NodeState::Client(c)) => Some((a, &**c)),
            _ => None,
        })
}

/// The properties for a configuration, in report order.
pub fn properties(cfg: &ModelConfig) -> Vec<Property<BankModel>> {
    let mut p = vec![
        Property::always("no double spend", no_double_spend),
        Property::always("chain prefix agreement", chain_prefix_agreement),
        Property::always("one leader per ballot", one_leader_per_ballot),
        Property::always("money conserved", money_conserved),
        Property::always("exactly once", exactly_once),
        Property::always(
            "acknowledged transfers are never lost",
            acknowledged_never_lost,
        ),
        Property::always("validity", validity),
        Property::always(
            "every executed transfer was signed by its sender's owner",
            signed_by_owner,
        ),
        Property::sometimes("a block is committed on two servers", block_committed),
        Property::sometimes(
            "a short-balance transfer succeeds after consensus",
            succeeds_after_consensus,
        ),
    ];
    // One leader with one ballot round never has a second ballot at a height.
    if cfg.is_contested() || cfg.max_round > 1 {
        p.push(Property::sometimes(
            "a second ballot takes over",
            second_ballot_takes_over,
        ));
    }
    if cfg.has_concurrent_sessions() {
        p.push(Property::sometimes(
            "one save answers two sessions",
            one_save_answers_two_sessions,
        ));
    }
    if cfg.client_retries > 0 {
        p.push(Property::sometimes(
            "a retried transfer is answered",
            retried_transfer_answered,
        ));
    }
    if cfg.max_crashes > 0 {
        p.push(Property::sometimes(
            "a crashed server recovers and catches up",
            crashed_server_catches_up,
        ));
    }
    if cfg.is_contested() {
        p.push(Property::sometimes(
            "two leaders propose at one height",
            two_leaders_at_one_height,
        ));
    }
    if cfg.is_contested() {
        p.push(Property::sometimes(
            "a server accepts from one leader after promising the other",
            accepts_after_promising_another,
        ));
    }
    // Two accepted blocks at one height need two ballots before the leader's own: a second
    // round for some leader.
    if cfg.is_contested() && cfg.max_round > 1 {
        p.push(Property::sometimes(
            "a third ballot's leader hears two different accepted blocks",
            leader_hears_two_accepted_blocks,
        ));
    }
    if cfg.is_contested() && cfg.max_crashes > 0 {
        p.push(Property::sometimes(
            "a restarted server votes in a competing ballot",
            restarted_server_votes_for_a_competitor,
        ));
    }
    if cfg.rogue.is_some() {
        p.push(Property::always(
            "bad requests are refused",
            bad_requests_refused,
        ));
        p.push(Property::sometimes(
            "every bad request is answered",
            every_bad_request_answered,
        ));
    }
    if cfg.attacker {
        p.push(Property::always(
            "a server acts only on peer messages sealed for it",
            acts_only_on_sealed_for_it,
        ));
        p.push(Property::sometimes(
            "the attacker relays a peer message to a server it was not sealed for",
            relayed_elsewhere,
        ));
    }
    // stateright judges `eventually` only at terminal states. On a duplicating network a
    // delivered message stays deliverable, so almost no state is terminal and the property
    // would pass vacuously: it is checked only where it means something.
    if cfg.is_fault_free() && cfg.network != crate::NetworkKind::Duplicating {
        p.push(Property::eventually(
            "every client request is answered",
            every_request_answered,
        ));
    }
    p
}

/// Whether a property is an `Always`/`Eventually` (a discovery is a violation) or a
/// `Sometimes` (a discovery is the example that was wanted).
pub fn is_example(p: &Property<BankModel>) -> bool {
    p.expectation == Expectation::Sometimes
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxchain::chain::Digest;
    use paxchain::{Ballot, Height};
    use stateright::actor::Id;

    fn p(round: u32, height: u32, leader: usize, block: u8) -> Proposal {
        Proposal {
            ballot: Ballot::new(round, 0),
            height: Height(height),
            leader: Id::from(leader),
            block: Digest([block; 32]),
        }
    }

    #[test]
    fn a_ballot_has_one_leader_and_one_block_per_height() {
        let ok = BTreeSet::from([p(1, 1, 0, 7), p(1, 2, 0, 8), p(2, 1, 1, 9)]);
        assert!(proposals_agree(&ok));
        // The same ballot sent by a second server (even at another height).
        assert!(!proposals_agree(&BTreeSet::from([
            p(1, 1, 0, 7),
            p(1, 3, 1, 7)
        ])));
        // The same ballot proposing two blocks at one height (a leader that forgot).
        assert!(!proposals_agree(&BTreeSet::from([
            p(1, 1, 0, 7),
            p(1, 1, 0, 8)
        ])));
    }
}
