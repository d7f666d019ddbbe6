//! Unit tests of sessions and group commit: several clients of one account, one request in
//! flight each, saved and answered together by one flush.

use super::*;

/// Server A with 3 units, so that a few fast-path transfers fit.
fn rich_a() -> ServerActor {
    let mut a = server(0, Variant::Safe);
    Arc::make_mut(&mut a.cfg).initial_balance = 3;
    a
}

/// Transfer `seq` of A's session `session` to B.
fn of(session: u8, seq: u32, amount: u64) -> Transfer {
    let id = TxId {
        client: A,
        session: Session(session),
        seq,
    };
    Transfer::model_signed(id, A, B, amount)
}

/// The address of session `s`'s client.
fn at(session: u8) -> Id {
    Id::from(100 + usize::from(session))
}

fn fire(a: &ServerActor, st: &ServerState, timer: Timer) -> (Option<ServerState>, Vec<Cmd>) {
    let mut state = Cow::Borrowed(st);
    let mut out = Out::new();
    a.on_timeout(Id::from(0), &mut state, &timer, &mut out);
    let changed = match state {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    };
    (changed, out.into_iter().collect())
}

fn sets(cmds: &[Cmd], timer: Timer) -> bool {
    (cmds.iter()).any(|c| matches!(c, Command::SetTimer(t, _) if *t == timer))
}

fn cancels(cmds: &[Cmd], timer: Timer) -> bool {
    (cmds.iter()).any(|c| matches!(c, Command::CancelTimer(t) if *t == timer))
}

/// Session 0 has been answered once; session 1's first transfer is staged, waiting for it.
fn one_staged() -> (ServerActor, ServerState) {
    let a = rich_a();
    let (st, cmds) = deliver(&a, &start(&a), at(0), submit(of(0, 1, 1)));
    assert!(
        first_save(&cmds) < first_send(&cmds),
        "a lone session: at once"
    );
    let (st, cmds) = deliver(&a, &st.unwrap(), at(1), submit(of(1, 1, 1)));
    let st = st.expect("staged");
    assert_eq!(first_save(&cmds), None, "nothing saved yet");
    assert!(sent(&cmds).is_empty(), "nothing answered before its save");
    assert!(sets(&cmds, Timer::Flush));
    assert_eq!(st.staged.len(), 1);
    assert_eq!(
        st.storage.log.len(),
        1,
        "the staged transfer is not in the log"
    );
    assert_eq!(a.available(&st), 1, "but it is counted against the balance");
    (a, st)
}

#[test]
fn a_second_session_waits_for_the_first_and_one_save_answers_both() {
    let (a, st) = one_staged();
    let (st, cmds) = deliver(&a, &st, at(0), submit(of(0, 2, 1)));
    let st = st.unwrap();
    assert_eq!(first_save(&cmds), Some(0), "one save, first");
    assert_eq!(
        (cmds.iter())
            .filter(|c| matches!(c, Command::Save(_)))
            .count(),
        1
    );
    assert_eq!(
        sent(&cmds),
        vec![
            answer(at(1), of(1, 1, 1).id, Outcome::Executed),
            answer(at(0), of(0, 2, 1).id, Outcome::Executed)
        ]
    );
    assert!(cancels(&cmds, Timer::Flush));
    assert!(st.staged.is_empty() && st.instrumentation.batched);
    let logged: Vec<TxId> = st.storage.log.iter().map(|t| t.id).collect();
    assert_eq!(logged, [of(0, 1, 1).id, of(1, 1, 1).id, of(0, 2, 1).id]);
    for (s, seq) in [(0, 2), (1, 1)] {
        let last = st.storage.last_outcomes.get(Session(s)).unwrap();
        assert_eq!(last.transfer.id, of(s, seq, 1).id);
    }
}

#[test]
fn the_flush_timer_answers_what_is_staged_and_stops_waiting_for_the_missing_session() {
    let (a, st) = one_staged();
    let (st, cmds) = fire(&a, &st, Timer::Flush);
    let st = st.unwrap();
    assert_eq!(first_save(&cmds), Some(0));
    assert_eq!(
        sent(&cmds),
        vec![answer(at(1), of(1, 1, 1).id, Outcome::Executed)]
    );
    assert_eq!(st.idle, [Session(0)].into());
    assert!(!st.instrumentation.batched, "a batch of one");
    // Session 0 is idle: session 1's next transfer is saved and answered at once.
    let (st, cmds) = deliver(&a, &st, at(1), submit(of(1, 2, 1)));
    assert!(first_save(&cmds) < first_send(&cmds));
    // Session 0 comes back and is waited for again.
    let (st, _) = deliver(&a, &st.unwrap(), at(0), submit(of(0, 2, 1)));
    assert!(st.unwrap().idle.is_empty());
    // The timer with nothing staged changes nothing.
    let (changed, cmds) = fire(&a, &start(&a), Timer::Flush);
    assert!(changed.is_none() && cmds.is_empty());
}

#[test]
fn a_staged_transfer_is_retried_moved_refused_or_replaced_as_a_waiting_one_is() {
    let (a, st) = one_staged();
    // A retry from elsewhere only moves the answer.
    let (moved, cmds) = deliver(&a, &st, Id::from(201), submit(of(1, 1, 1)));
    assert!(cmds.is_empty());
    assert_eq!(moved.unwrap().staged[0].client, Id::from(201));
    // A different transfer under its id is refused, and nothing changes.
    let other = Transfer::model_signed(of(1, 1, 1).id, A, C, 1);
    let (changed, cmds) = deliver(&a, &st, at(1), submit(other));
    assert!(changed.is_none());
    assert_eq!(
        sent(&cmds),
        vec![answer(at(1), of(1, 1, 1).id, id_in_use(of(1, 1, 1).id))]
    );
    // A newer transfer of the session replaces it: the session gave up on it.
    let (st, _) = deliver(&a, &st, at(1), submit(of(1, 2, 2)));
    let st = st.unwrap();
    assert_eq!(st.staged.len(), 1);
    assert_eq!(st.staged[0].transfer, of(1, 2, 2));
    assert_eq!(a.available(&st), 0);
}

#[test]
fn each_session_keeps_its_own_last_outcome() {
    let a = rich_a();
    let (st, _) = deliver(&a, &start(&a), at(0), submit(of(0, 1, 1)));
    let (st, _) = fire(
        &a,
        &deliver(&a, &st.unwrap(), at(1), submit(of(1, 1, 1)))
            .0
            .unwrap(),
        Timer::Flush,
    );
    let st = st.unwrap();
    // Session 0's first transfer, duplicated after session 1's answer, is still a retry:
    // its answer again, nothing executed.
    let (changed, cmds) = deliver(&a, &st, at(0), submit(of(0, 1, 1)));
    assert!(changed.is_none());
    assert_eq!(
        sent(&cmds),
        vec![answer(at(0), of(0, 1, 1).id, Outcome::Executed)]
    );
    let (_, cmds) = deliver(
        &a,
        &st,
        at(1),
        ApiMsg::GetLastAnswered {
            session: Session(1),
        }
        .into(),
    );
    let last = ApiMsg::LastAnswered {
        session: Session(1),
        id: Some(of(1, 1, 1).id),
    };
    assert_eq!(sent(&cmds), vec![(at(1), last.into())]);
}

#[test]
fn a_promise_carries_a_block_of_the_oldest_and_says_the_log_holds_more() {
    let mut b = server(1, Variant::Safe);
    Arc::make_mut(&mut b.cfg).max_block = 2;
    let log: Vec<Transfer> = (1..=3).map(|seq| tx(B, seq, A, 1)).collect();
    let mut st = start(&b);
    st.storage.log = Arc::new(Log::from(log.clone()));
    let prepare = PeerMsg::Prepare {
        ballot: Ballot::new(1, 0),
        height: Height(1),
    };
    let (_, cmds) = deliver(&b, &st, Id::from(0), prepare.into());
    assert!(matches!(
        &sent(&cmds)[0].1,
        Msg::Peer(PeerMsg::Promise { pending, more: true, .. }) if **pending == log[..2]
    ));
}

#[test]
fn a_block_from_a_promise_that_left_some_out_is_not_the_final_word() {
    let a = server(0, Variant::Safe);
    let (st, _) = deliver(&a, &start(&a), client(), submit(tx(A, 1, C, 3)));
    let st = st.unwrap();
    let partial = PeerMsg::Promise {
        ballot: st.storage.promised,
        height: Height(1),
        accepted: None,
        pending: Arc::new(vec![tx(B, 1, A, 1)]),
        more: true,
    };
    let (st, _) = deliver(&a, &st, Id::from(1), partial.into());
    let (st, _) = deliver(
        &a,
        &st.unwrap(),
        Id::from(2),
        promise(&st_of(&a), None, vec![]),
    );
    let st = st.unwrap();
    let ballot = st.storage.promised;
    let accepted = PeerMsg::Accepted {
        ballot,
        height: Height(1),
    };
    let (st, cmds) = deliver(&a, &st, Id::from(1), accepted.into());
    let st = st.unwrap();
    // Committed, still short (2 of 3), and not refused: B's log held more.
    assert_eq!(st.storage.chain.len(), 2);
    assert!(st.waiting.contains_key(&Session::FIRST));
    assert!(
        sent(&cmds).iter().all(|(to, _)| *to != client()),
        "{cmds:?}"
    );
    assert!(matches!(
        sent(&cmds).last().unwrap().1,
        Msg::Peer(PeerMsg::Prepare {
            height: Height(2),
            ..
        })
    ));
}

/// A's state after its short transfer started an election: what the promises answer.
fn st_of(a: &ServerActor) -> ServerState {
    deliver(a, &start(a), client(), submit(tx(A, 1, C, 3)))
        .0
        .unwrap()
}

/// A bounded block takes the oldest of each server's log in the log's order, not in id
/// order, so the server drops them from the front of its log: the storage then records a
/// count, not the whole log rewritten.
#[test]
fn a_bounded_block_takes_a_prefix_of_a_log_of_interleaved_sessions() {
    let mut a = rich_a();
    Arc::make_mut(&mut a.cfg).max_block = 4;
    // Sessions 3, 1, 2, 3, 1, 2 executed in that order: not id order.
    let executed: Vec<Transfer> = [(3, 1), (1, 1), (2, 1), (3, 2), (1, 2), (2, 2)]
        .into_iter()
        .map(|(s, seq)| of(s, seq, 0))
        .map(|t| Transfer { amount: 1, ..t })
        .collect();
    let mut st = start(&a);
    st.storage.log = Arc::new(Log::from(executed.clone()));
    st.storage.promised = Ballot::new(0, 0);
    // A short transfer starts A's election; B and C promise with nothing pending.
    let (st, _) = deliver(&a, &st, client(), submit(tx(A, 1, C, 3)));
    let st = st.unwrap();
    let (st, _) = deliver(&a, &st, Id::from(1), promise(&st, None, vec![]));
    let st = st.unwrap();
    let (st, _) = deliver(&a, &st, Id::from(2), promise(&st, None, vec![]));
    let st = st.unwrap();
    let block = st.storage.accepted.clone().expect("proposed").block;
    let mut want = executed[..4].to_vec();
    want.sort();
    assert_eq!(block.transfers, want, "the log's four oldest");
    let accepted = PeerMsg::Accepted {
        ballot: st.storage.promised,
        height: Height(1),
    };
    let (st, _) = deliver(&a, &st, Id::from(1), accepted.into());
    let st = st.unwrap();
    assert_eq!(st.storage.log.to_vec(), executed[4..].to_vec());
    let marks = st.storage.log.marks();
    assert_eq!((marks.trimmed, marks.rewritten), (4, 0), "{marks:?}");
}

/// A transfer its sender's owner did not sign is refused at once, whatever path its amount
/// would take, and nothing changes: not the balance, not the session's outcome.
#[test]
fn a_transfer_not_signed_by_its_owner_is_refused_and_changes_nothing() {
    let a = rich_a();
    let st = start(&a);
    let signed = of(0, 1, 1);
    let altered = Transfer {
        amount: 2,
        ..signed.clone()
    };
    let bad = |t: &Transfer| {
        let reason = Rejection::BadSignature { id: t.id, from: A };
        answer(at(0), t.id, Outcome::Rejected { reason })
    };
    for forged in [
        altered,
        Transfer {
            amount: 50,
            ..signed.clone()
        },
    ] {
        let (changed, cmds) = deliver(&a, &st, at(0), submit(forged.clone()));
        assert!(changed.is_none(), "nothing executed, staged or waiting");
        assert_eq!(sent(&cmds), vec![bad(&forged)]);
    }
    // Deployed keys: the model's signature is no signature, and A's own key's is.
    let key = ed25519_zebra::SigningKey::from([9u8; 32]);
    let mut deployed = a.clone();
    let others = [[1u8; 32], [2u8; 32]].map(|k| (&ed25519_zebra::SigningKey::from(k)).into());
    let keys = crate::AccountKeys::Ed25519(vec![(&key).into(), others[0], others[1]]);
    Arc::make_mut(&mut deployed.cfg).keys = Arc::new(keys);
    let (changed, cmds) = deliver(&deployed, &st, at(0), submit(signed.clone()));
    assert!(changed.is_none());
    assert_eq!(sent(&cmds), vec![bad(&signed)]);
    let real = crate::signature::sign(signed, &key);
    let (changed, cmds) = deliver(&deployed, &st, at(0), submit(real.clone()));
    assert!(changed.is_some());
    assert_eq!(sent(&cmds), vec![answer(at(0), real.id, Outcome::Executed)]);
}
