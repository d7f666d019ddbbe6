//! Unit tests of the server's handlers: each feeds one event and asserts the effects emitted,
//! in order (a save must come before the sends that depend on it).

use super::*;
use crate::chain::Chain;
use crate::ids::{Account, Session, TxId};
use crate::log::Log;
use stateright::actor::Command;
use std::time::Duration;

type Cmd = Command<Msg, Timer, (), Storage>;

const A: Account = Account(0);
const B: Account = Account(1);
const C: Account = Account(2);
/// The client's address: any id outside the cluster.
fn client() -> Id {
    Id::from(100)
}

fn server(index: usize, variant: Variant) -> ServerActor {
    ServerActor::new(ServerConfig {
        index,
        servers: (0..3).map(Id::from).collect(),
        initial_balance: 1,
        variant,
        max_round: 3,
        max_block: ServerConfig::MAX_BLOCK,
        round_timeout: Duration::ZERO..Duration::from_millis(1),
        gather_timeout: Duration::ZERO..Duration::from_millis(1),
        flush_timeout: Duration::ZERO..Duration::from_millis(1),
        keys: Arc::default(),
        bug: None,
    })
}

fn tx(from: Account, seq: u32, to: Account, amount: u64) -> Transfer {
    Transfer::model_signed(TxId::new(from, seq), from, to, amount)
}

/// Delivers `msg` from `src`; returns the new state (or `None` if unchanged) and the effects.
fn deliver(
    a: &ServerActor,
    st: &ServerState,
    src: Id,
    msg: Msg,
) -> (Option<ServerState>, Vec<Cmd>) {
    let mut state = Cow::Borrowed(st);
    let mut out = Out::new();
    a.on_msg(Id::from(a.cfg.index), &mut state, src, msg, &mut out);
    let changed = match state {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    };
    (changed, out.into_iter().collect())
}

fn submit(t: Transfer) -> Msg {
    ApiMsg::Submit { transfer: t }.into()
}

fn sent(cmds: &[Cmd]) -> Vec<(Id, Msg)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Send(dst, m) => Some((*dst, m.clone())),
            _ => None,
        })
        .collect()
}

/// The outcome message `to` should receive for `id`.
fn answer(to: Id, id: TxId, outcome: Outcome) -> (Id, Msg) {
    (to, ApiMsg::Outcome { id, outcome }.into())
}

/// What a second, different transfer under `id` gets.
fn id_in_use(id: TxId) -> Outcome {
    Outcome::Rejected {
        reason: Rejection::IdInUse { id },
    }
}

fn first_save(cmds: &[Cmd]) -> Option<usize> {
    cmds.iter().position(|c| matches!(c, Command::Save(_)))
}

fn first_send(cmds: &[Cmd]) -> Option<usize> {
    cmds.iter().position(|c| matches!(c, Command::Send(..)))
}

fn start(a: &ServerActor) -> ServerState {
    a.on_start(Id::from(a.cfg.index), &None, &mut Out::new())
}

#[test]
fn fast_path_saves_the_log_then_answers_executed() {
    let a = server(0, Variant::Safe);
    let t = tx(A, 1, B, 1);
    let (st, cmds) = deliver(&a, &start(&a), client(), submit(t.clone()));
    let st = st.expect("state changed");
    assert_eq!(st.storage.log.to_vec(), vec![t.clone()]);
    assert!(
        first_save(&cmds) < first_send(&cmds),
        "save before reply: {cmds:?}"
    );
    assert_eq!(
        sent(&cmds),
        vec![(
            client(),
            ApiMsg::Outcome {
                id: t.id,
                outcome: Outcome::Executed
            }
            .into()
        )]
    );
}

#[test]
fn invalid_transfers_are_rejected_without_touching_state() {
    let a = server(0, Variant::Safe);
    let st = start(&a);
    for (t, reason) in [
        (tx(B, 1, C, 1), Rejection::NotOwner { client: B, from: B }),
        (tx(A, 1, A, 1), Rejection::SameAccount { account: A }),
        (tx(A, 1, B, 0), Rejection::ZeroAmount),
        (
            tx(A, 1, Account(9), 1),
            Rejection::UnknownAccount {
                account: Account(9),
            },
        ),
    ] {
        let (changed, cmds) = deliver(&a, &st, client(), submit(t.clone()));
        assert!(changed.is_none());
        let outcome = Outcome::Rejected { reason };
        assert_eq!(
            sent(&cmds),
            vec![(client(), ApiMsg::Outcome { id: t.id, outcome }.into())]
        );
    }
}

#[test]
fn a_retry_gets_the_same_answer_and_a_stale_copy_is_dropped() {
    let a = server(0, Variant::Safe);
    let t1 = tx(A, 1, B, 1);
    let (st, _) = deliver(&a, &start(&a), client(), submit(t1.clone()));
    let st = st.unwrap();
    let (changed, cmds) = deliver(&a, &st, client(), submit(t1.clone()));
    assert!(changed.is_none(), "a retry executes nothing");
    assert_eq!(first_save(&cmds), None);
    assert_eq!(sent(&cmds).len(), 1);
    // After transfer 2 is answered, a late duplicate of transfer 1 changes nothing at all.
    let t2 = tx(A, 2, C, 5);
    let mut st2 = st.clone();
    st2.storage.last_outcomes.insert(
        Session::FIRST,
        Answered {
            transfer: t2.clone(),
            outcome: Outcome::Rejected {
                reason: Rejection::NoQuorum,
            },
        },
    );
    let (changed, cmds) = deliver(&a, &st2, client(), submit(t1));
    assert!(changed.is_none());
    assert!(cmds.is_empty());
}

#[test]
fn a_short_balance_starts_an_election_with_a_saved_ballot() {
    let a = server(0, Variant::Safe);
    let t = tx(A, 1, B, 2);
    let (st, cmds) = deliver(&a, &start(&a), client(), submit(t.clone()));
    let st = st.unwrap();
    let ballot = Ballot::new(1, 0);
    assert_eq!(st.storage.promised, ballot);
    assert_eq!(
        st.waiting.get(&Session::FIRST).map(|w| &w.transfer),
        Some(&t)
    );
    assert!(first_save(&cmds) < first_send(&cmds));
    let prepare: Msg = PeerMsg::Prepare {
        ballot,
        height: Height(1),
    }
    .into();
    assert_eq!(
        sent(&cmds),
        vec![(Id::from(1), prepare.clone()), (Id::from(2), prepare)]
    );
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::SetTimer(Timer::Round, _))));
}

fn promise(st: &ServerState, accepted: Option<AcceptedBlock>, pending: Vec<Transfer>) -> Msg {
    PeerMsg::Promise {
        ballot: st.storage.promised,
        height: Height(1),
        accepted,
        pending: Arc::new(pending),
        more: false,
    }
    .into()
}

/// Server A short of funds, elected by B (whose promise carries a pending credit to A) and
/// then C; returns the effects of C's promise, the last one.
fn elected_a() -> (ServerActor, ServerState, Vec<Cmd>) {
    let a = server(0, Variant::Safe);
    let (st, _) = deliver(&a, &start(&a), client(), submit(tx(A, 1, C, 2)));
    let st = st.unwrap();
    let (st, _) = deliver(
        &a,
        &st,
        Id::from(1),
        promise(&st, None, vec![tx(B, 1, A, 1)]),
    );
    let st = st.unwrap();
    let (st, cmds) = deliver(&a, &st, Id::from(2), promise(&st, None, vec![]));
    (a, st.unwrap(), cmds)
}

#[test]
fn with_a_bare_quorum_the_leader_waits_for_the_others_until_gather_fires() {
    let a = server(0, Variant::Safe);
    let (st, _) = deliver(&a, &start(&a), client(), submit(tx(A, 1, C, 2)));
    let st = st.unwrap();
    let (st, cmds) = deliver(
        &a,
        &st,
        Id::from(1),
        promise(&st, None, vec![tx(B, 1, A, 1)]),
    );
    let st = st.unwrap();
    assert!(
        sent(&cmds).is_empty(),
        "no ACCEPT before the others had their chance"
    );
    assert!(cmds
        .iter()
        .any(|c| matches!(c, Command::SetTimer(Timer::Gather, _))));
    let mut state = Cow::Borrowed(&st);
    let mut out = Out::new();
    a.on_timeout(Id::from(0), &mut state, &Timer::Gather, &mut out);
    let cmds: Vec<Cmd> = out.into_iter().collect();
    assert_eq!(sent(&cmds).len(), 2, "ACCEPT to B and C: {cmds:?}");
    assert!(matches!(
        &sent(&cmds)[0].1,
        Msg::Peer(PeerMsg::Accept { block, .. }) if block.transfers == vec![tx(B, 1, A, 1)]
    ));
}

#[test]
fn a_quorum_of_promises_proposes_a_fresh_block_of_pending_transfers() {
    let (_, st, cmds) = elected_a();
    let accepted = st
        .storage
        .accepted
        .clone()
        .expect("the leader accepts its own block");
    assert_eq!(accepted.block.transfers, vec![tx(B, 1, A, 1)]);
    assert!(first_save(&cmds) < first_send(&cmds));
    let accept: Msg = PeerMsg::Accept {
        ballot: accepted.ballot,
        block: accepted.block.clone(),
    }
    .into();
    assert_eq!(
        sent(&cmds),
        vec![(Id::from(1), accept.clone()), (Id::from(2), accept)]
    );
}

#[test]
fn a_reported_accepted_block_is_proposed_unchanged() {
    let a = server(0, Variant::Safe);
    let (st, _) = deliver(&a, &start(&a), client(), submit(tx(A, 1, C, 2)));
    let st = st.unwrap();
    let old = Arc::new(Block::new(
        Height(1),
        Ballot::new(0, 2),
        st.storage.chain.tip().hash,
        vec![tx(C, 1, B, 1)],
    ));
    let reported = Some(AcceptedBlock {
        ballot: Ballot::new(0, 2),
        block: old.clone(),
    });
    let (st, _) = deliver(
        &a,
        &st,
        Id::from(1),
        promise(&st, reported, vec![tx(B, 1, A, 1)]),
    );
    let st = st.unwrap();
    let (st, cmds) = deliver(&a, &st, Id::from(2), promise(&st, None, vec![]));
    let st = st.unwrap();
    assert_eq!(st.storage.accepted.unwrap().block, old);
    assert!(matches!(
        &sent(&cmds)[0].1,
        Msg::Peer(PeerMsg::Accept { block, .. }) if *block == old
    ));
}

#[test]
fn a_quorum_of_accepted_commits_then_executes_the_waiting_transfer() {
    let (a, st, _) = elected_a();
    let ballot = st.storage.promised;
    let accepted = PeerMsg::Accepted {
        ballot,
        height: Height(1),
    };
    let (st, cmds) = deliver(&a, &st, Id::from(2), accepted.into());
    let st = st.unwrap();
    assert_eq!(st.storage.chain.next_height(), Height(2));
    assert_eq!(st.storage.accepted, None);
    assert_eq!(st.round, None);
    assert!(st.waiting.is_empty());
    // A had 1, B's transfer brought 1 more: the 2-unit transfer is now covered.
    assert_eq!(st.storage.log.to_vec(), vec![tx(A, 1, C, 2)]);
    let msgs = sent(&cmds);
    assert!(matches!(msgs[0].1, Msg::Peer(PeerMsg::Commit { .. })));
    assert_eq!(
        msgs.last().unwrap(),
        &(
            client(),
            ApiMsg::Outcome {
                id: tx(A, 1, C, 2).id,
                outcome: Outcome::ExecutedAfterConsensus
            }
            .into()
        )
    );
    assert!(first_save(&cmds) < first_send(&cmds));
}

#[test]
fn a_follower_promises_with_its_accepted_block_and_log_and_ignores_lower_ballots() {
    let b = server(1, Variant::Safe);
    let (st, _) = deliver(&b, &start(&b), client(), submit(tx(B, 1, A, 1)));
    let st = st.unwrap();
    let high = Ballot::new(2, 0);
    let prepare = PeerMsg::Prepare {
        ballot: high,
        height: Height(1),
    };
    let (st2, cmds) = deliver(&b, &st, Id::from(0), prepare.into());
    let st2 = st2.unwrap();
    assert_eq!(st2.storage.promised, high);
    assert!(first_save(&cmds) < first_send(&cmds));
    assert_eq!(
        sent(&cmds),
        vec![(
            Id::from(0),
            PeerMsg::Promise {
                ballot: high,
                height: Height(1),
                accepted: None,
                pending: Arc::new(vec![tx(B, 1, A, 1)]),
                more: false,
            }
            .into()
        )]
    );
    let low = PeerMsg::Prepare {
        ballot: Ballot::new(1, 2),
        height: Height(1),
    };
    // A lower ballot changes nothing here, and its candidate is told what was promised.
    let (changed, cmds) = deliver(&b, &st2, Id::from(2), low.into());
    assert!(changed.is_none());
    assert_eq!(
        sent(&cmds),
        vec![(Id::from(2), PeerMsg::Outranked { promised: high }.into())]
    );
    let low_accept = PeerMsg::Accept {
        ballot: Ballot::new(1, 2),
        block: Arc::new(Block::new(
            Height(1),
            Ballot::new(1, 2),
            st2.storage.chain.tip().hash,
            vec![],
        )),
    };
    let (changed, cmds) = deliver(&b, &st2, Id::from(2), low_accept.into());
    assert!(changed.is_none());
    assert_eq!(
        sent(&cmds),
        vec![(Id::from(2), PeerMsg::Outranked { promised: high }.into())]
    );
}

/// Within one round a refusal stays silent: the winning candidate's own PREPARE went to the
/// loser too, so an OUTRANKED would tell it nothing (and would only multiply the model's
/// states).
#[test]
fn a_lower_ballot_of_the_same_round_is_refused_in_silence() {
    let b = server(1, Variant::Safe);
    let st = start(&b);
    let c_ballot = Ballot::new(2, 2);
    let prepare = |ballot| PeerMsg::Prepare {
        ballot,
        height: Height(1),
    };
    let (st, _) = deliver(&b, &st, Id::from(2), prepare(c_ballot).into());
    let st = st.unwrap();
    let (changed, cmds) = deliver(&b, &st, Id::from(0), prepare(Ballot::new(2, 0)).into());
    assert!(changed.is_none() && cmds.is_empty());
}

/// Server A short of funds (it pays B 2 of its 1 unit), in an election of its own.
fn short_a() -> (ServerActor, ServerState) {
    let a = server(0, Variant::Safe);
    let (st, _) = deliver(&a, &start(&a), client(), submit(tx(A, 1, B, 2)));
    (a, st.expect("an election starts"))
}

/// An empty block at height 1, first proposed under `ballot`.
fn empty_block_1(ballot: Ballot) -> Arc<Block> {
    Arc::new(Block::new(
        Height(1),
        ballot,
        Chain::new().tip().hash,
        vec![],
    ))
}

/// A candidate told that a higher ballot was promised steps down and saves the ballot, so
/// its next election (when its round timer fires) starts above it, not one above its own.
#[test]
fn an_outranked_candidate_learns_the_promise_and_its_retry_starts_above_it() {
    let (a, st) = short_a();
    assert_eq!(st.storage.promised, Ballot::new(1, 0));
    let far = Ballot::new(2, 2);
    let (st, cmds) = deliver(
        &a,
        &st,
        Id::from(1),
        PeerMsg::Outranked { promised: far }.into(),
    );
    let st = st.unwrap();
    assert_eq!(st.storage.promised, far);
    assert!(st.round.is_none(), "a lower round of its own is over");
    assert!(!st.waiting.is_empty(), "the client still waits");
    assert!(first_save(&cmds).is_some() && sent(&cmds).is_empty());
    // An older news changes nothing (and the model drops it for good).
    let old = PeerMsg::Outranked {
        promised: Ballot::new(1, 1),
    };
    assert!(a.ignores_forever(&st, Id::from(1), &old.clone().into()));
    let (changed, cmds) = deliver(&a, &st, Id::from(1), old.into());
    assert!(changed.is_none() && cmds.is_empty());
    let mut state = Cow::Borrowed(&st);
    let mut out = Out::new();
    a.on_timeout(Id::from(0), &mut state, &Timer::Round, &mut out);
    let cmds: Vec<Cmd> = out.into_iter().collect();
    assert!(sent(&cmds).contains(&(
        Id::from(1),
        PeerMsg::Prepare {
            // Two rounds went by while it waited: its own first, and C's.
            ballot: Ballot {
                round: 3,
                waited: 2,
                leader: 0
            },
            height: Height(1)
        }
        .into()
    )));
}

/// A server that was away gets blocks with the sender's promise: it catches up and, still
/// short, starts its next election above every ballot it missed, at once (round 3, where
/// its own promise would have given 2).
#[test]
fn a_catch_up_brings_the_ballots_missed_with_the_blocks() {
    let (a, st) = short_a();
    let catch_up = PeerMsg::CatchUp {
        blocks: vec![empty_block_1(Ballot::new(1, 1))],
        more: false,
        promised: Ballot::new(2, 2),
    };
    let (st, cmds) = deliver(&a, &st, Id::from(1), catch_up.into());
    let st = st.unwrap();
    assert_eq!(st.storage.chain.next_height(), Height(2));
    // The transfer has waited two rounds (its own, and the one it was told of): its
    // ballot ranks above a fresh candidate's.
    let ballot = Ballot {
        round: 3,
        waited: 2,
        leader: 0,
    };
    assert_eq!(st.storage.promised, ballot);
    assert!(first_save(&cmds) < first_send(&cmds));
    assert!(sent(&cmds).contains(&(
        Id::from(2),
        PeerMsg::Prepare {
            ballot,
            height: Height(2)
        }
        .into()
    )));
}

/// Fairness: after a commit, two servers still short start the same round; the one whose
/// transfer has waited longer wins the tie, whatever the indices.
#[test]
fn among_equal_rounds_the_longer_wait_outranks_the_higher_index() {
    let (a, st) = short_a();
    let commit = PeerMsg::Commit {
        ballot: Ballot::new(1, 2),
        block: empty_block_1(Ballot::new(1, 2)),
    };
    let (st, _) = deliver(&a, &st, Id::from(2), commit.into());
    let a_ballot = st.unwrap().storage.promised;
    // C, whose client has just gone short, starts the same round without having waited.
    let c_ballot = Ballot::new(2, 2);
    assert_eq!((a_ballot.round, a_ballot.waited), (2, 1));
    assert!(a_ballot > c_ballot, "{a_ballot} outranks {c_ballot}");
}

/// A round lost to a rival whose round ends without a block (nothing was pending) counts as
/// waited too: otherwise the highest index would win every such round again.
#[test]
fn a_round_lost_without_a_block_still_counts_as_waited() {
    let (a, st) = short_a();
    let rival = PeerMsg::Prepare {
        ballot: Ballot::new(1, 2),
        height: Height(1),
    };
    let (st, _) = deliver(&a, &st, Id::from(2), rival.into());
    let st = st.unwrap();
    assert!(st.round.is_none(), "A promised C's ballot and stepped down");
    let mut state = Cow::Borrowed(&st);
    let mut out = Out::new();
    a.on_timeout(Id::from(0), &mut state, &Timer::Round, &mut out);
    let retry = state.into_owned().storage.promised;
    assert_eq!((retry.round, retry.waited), (2, 1));
    assert!(
        retry > Ballot::new(2, 2),
        "C's next fresh ballot loses to A's retry"
    );
}

#[test]
fn a_block_beyond_the_tip_asks_for_the_gap_and_catch_up_fills_it() {
    let b = server(1, Variant::Safe);
    let st = start(&b);
    let mut leader_chain = Chain::new();
    let b1 = Arc::new(Block::new(
        Height(1),
        Ballot::ZERO,
        leader_chain.tip().hash,
        vec![tx(A, 1, B, 1)],
    ));
    leader_chain.append(b1.clone()).unwrap();
    let b2 = Arc::new(Block::new(Height(2), Ballot::ZERO, b1.hash, vec![]));
    let commit = PeerMsg::Commit {
        ballot: Ballot::ZERO,
        block: b2.clone(),
    };
    let (changed, cmds) = deliver(&b, &st, Id::from(0), commit.into());
    assert!(changed.is_none());
    assert_eq!(
        sent(&cmds),
        vec![(
            Id::from(0),
            PeerMsg::CatchUpRequest { from: Height(1) }.into()
        )]
    );
    let catch_up = PeerMsg::CatchUp {
        blocks: vec![b1, b2],
        more: true,
        promised: Ballot::ZERO,
    };
    let (st, cmds) = deliver(&b, &st, Id::from(0), catch_up.into());
    assert_eq!(st.unwrap().storage.chain.next_height(), Height(3));
    assert!(first_save(&cmds).is_some());
    // The sender said there is more: ask for it from the new tip.
    assert!(sent(&cmds).contains(&(
        Id::from(0),
        PeerMsg::CatchUpRequest { from: Height(3) }.into()
    )));
}

#[test]
fn a_restarted_server_resumes_from_storage_and_catches_up_on_the_next_message() {
    let b = server(1, Variant::Safe);
    // Every durable field populated: a chain beyond genesis, an accepted block for the next
    // height, a log, and the last answer given.
    let mut chain = Chain::new();
    let b1 = Block::new(
        Height(1),
        Ballot::ZERO,
        chain.tip().hash,
        vec![tx(A, 1, B, 1)],
    );
    chain.append(Arc::new(b1.clone())).unwrap();
    let promised = Ballot::new(4, 2);
    let b2 = Block::new(Height(2), promised, b1.hash, vec![tx(C, 1, B, 1)]);
    let storage = Storage {
        promised,
        accepted: Some(AcceptedBlock {
            ballot: promised,
            block: Arc::new(b2),
        }),
        chain: Arc::new(chain),
        log: Arc::new(Log::from(vec![tx(B, 1, A, 1)])),
        last_outcomes: [(
            Session::FIRST,
            Answered {
                transfer: tx(B, 1, A, 1),
                outcome: Outcome::Executed,
            },
        )]
        .into_iter()
        .collect(),
    };
    let mut out = Out::new();
    let st = b.on_start(Id::from(1), &Some(storage.clone()), &mut out);
    assert_eq!(st.storage, storage, "nothing durable is forgotten");
    assert_eq!(st.instrumentation.restarted_at, Some(Height(1)));
    assert!(out.is_empty());
    // The client's retry of its answered transfer gets the same answer, and nothing runs twice.
    let (changed, cmds) = deliver(&b, &st, client(), submit(tx(B, 1, A, 1)));
    assert!(changed.is_none());
    let executed = ApiMsg::Outcome {
        id: tx(B, 1, A, 1).id,
        outcome: Outcome::Executed,
    };
    assert_eq!(sent(&cmds), vec![(client(), executed.into())]);
    // A PREPARE for height 4 tells it block 2 and 3 exist: it promises with its log (its
    // accepted block is for height 2, not 4) and asks for the blocks from height 2.
    let prepare = PeerMsg::Prepare {
        ballot: Ballot::new(5, 0),
        height: Height(4),
    };
    let (_, cmds) = deliver(&b, &st, Id::from(0), prepare.into());
    let msgs = sent(&cmds);
    assert!(matches!(
        &msgs[0].1,
        Msg::Peer(PeerMsg::Promise { accepted: None, pending, .. }) if **pending == vec![tx(B, 1, A, 1)]
    ));
    assert_eq!(
        msgs.last().unwrap(),
        &(
            Id::from(0),
            PeerMsg::CatchUpRequest { from: Height(2) }.into()
        )
    );
}

#[test]
fn out_of_ballots_the_client_gets_no_quorum_not_silence() {
    let mut a = server(0, Variant::Safe);
    Arc::make_mut(&mut a.cfg).max_round = 1;
    let (st, _) = deliver(&a, &start(&a), client(), submit(tx(A, 1, B, 5)));
    let mut state = Cow::Borrowed(st.as_ref().unwrap());
    let mut out = Out::new();
    a.on_timeout(Id::from(0), &mut state, &Timer::Round, &mut out);
    let cmds: Vec<Cmd> = out.into_iter().collect();
    let outcome = Outcome::Rejected {
        reason: Rejection::NoQuorum,
    };
    assert_eq!(
        sent(&cmds),
        vec![(
            client(),
            ApiMsg::Outcome {
                id: tx(A, 1, B, 5).id,
                outcome: outcome.clone()
            }
            .into()
        )]
    );
    assert_eq!(
        state.storage.last_outcomes.get(Session::FIRST),
        Some(&Answered {
            transfer: tx(A, 1, B, 5),
            outcome
        })
    );
}

#[test]
fn literal_appends_every_commit_even_a_duplicate() {
    let b = server(1, Variant::Literal);
    let st = start(&b);
    let block = Arc::new(Block::new(
        Height(1),
        Ballot::ZERO,
        st.storage.chain.tip().hash,
        vec![tx(A, 1, B, 1)],
    ));
    let commit: Msg = PeerMsg::Commit {
        ballot: Ballot::ZERO,
        block,
    }
    .into();
    let (st, _) = deliver(&b, &st, Id::from(0), commit.clone());
    let (st, _) = deliver(&b, &st.unwrap(), Id::from(0), commit);
    assert_eq!(
        st.unwrap().storage.chain.len(),
        3,
        "the course text appends twice"
    );
}

#[test]
fn queries_answer_balance_log_and_chain() {
    let a = server(0, Variant::Safe);
    let (st, _) = deliver(&a, &start(&a), client(), submit(tx(A, 1, B, 1)));
    let st = st.unwrap();
    let (_, cmds) = deliver(&a, &st, client(), ApiMsg::GetBalance { account: B }.into());
    assert_eq!(
        sent(&cmds)[0].1,
        ApiMsg::Balance {
            account: B,
            balance: 2,
            height: Height(0)
        }
        .into()
    );
    let (_, cmds) = deliver(&a, &st, client(), ApiMsg::GetLog.into());
    assert_eq!(
        sent(&cmds)[0].1,
        ApiMsg::Log {
            transfers: vec![tx(A, 1, B, 1)],
            total: 1,
        }
        .into()
    );
    let (_, cmds) = deliver(
        &a,
        &st,
        client(),
        ApiMsg::GetChain { from: Height(0) }.into(),
    );
    assert!(
        matches!(&sent(&cmds)[0].1, Msg::Api(ApiMsg::Chain { blocks, .. }) if blocks.len() == 1)
    );
}

/// An answered id is not a password: a different transfer under it (a buggy client, or a
/// forged datagram) is refused, not told the answer the first one got, and nothing runs.
#[test]
fn a_different_transfer_under_an_answered_id_is_refused_not_told_its_outcome() {
    let a = server(0, Variant::Safe);
    let paid = tx(A, 1, B, 1);
    let (st, _) = deliver(&a, &start(&a), client(), submit(paid.clone()));
    let st = st.unwrap();
    assert_eq!(st.storage.log.to_vec(), vec![paid.clone()]);
    let forged = tx(A, 1, C, 1);
    let (changed, cmds) = deliver(&a, &st, Id::from(200), submit(forged));
    assert!(changed.is_none(), "nothing executes, nothing is saved");
    let refused = answer(Id::from(200), paid.id, id_in_use(paid.id));
    assert_eq!(sent(&cmds), vec![refused]);
    // The transfer it answered still gets its own answer again.
    let (_, cmds) = deliver(&a, &st, client(), submit(paid.clone()));
    let executed = answer(client(), paid.id, Outcome::Executed);
    assert_eq!(sent(&cmds), vec![executed]);
}

#[test]
fn a_different_transfer_under_the_waiting_id_is_refused_and_a_retry_moves_the_answer() {
    let a = server(0, Variant::Safe);
    let short = tx(A, 1, B, 5);
    let (st, _) = deliver(&a, &start(&a), client(), submit(short.clone()));
    let st = st.unwrap();
    // Same id, other content: refused, and the waiting transfer is untouched.
    let forged = tx(A, 1, C, 1);
    let (changed, cmds) = deliver(&a, &st, Id::from(200), submit(forged));
    assert!(changed.is_none());
    let refused = answer(Id::from(200), short.id, id_in_use(short.id));
    assert_eq!(sent(&cmds), vec![refused]);
    // The same transfer from a new address (a restarted client): answers go there now.
    let (changed, cmds) = deliver(&a, &st, Id::from(201), submit(short));
    assert!(cmds.is_empty());
    assert_eq!(
        changed.unwrap().waiting[&Session::FIRST].client,
        Id::from(201)
    );
}

mod sessions;
