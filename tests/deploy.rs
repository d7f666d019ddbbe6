//! Real processes on 127.0.0.1: `paxchain server` children on free ports, driven through the
//! UDP client. Every wait is bounded; every child is killed when its `Demo` is dropped.

use paxchain::ledger::Balances;
use paxchain::{Account, Block, Outcome};
use paxchain_deploy::demo::Demo;
use paxchain_deploy::UdpClient;
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const A: Account = Account(0);
const B: Account = Account(1);
const C: Account = Account(2);

fn start(name: &str, servers: usize, initial: u64) -> Demo {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("paxchain-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Demo::start(
        env!("CARGO_BIN_EXE_paxchain").as_ref(),
        &dir,
        servers,
        initial,
    )
    .expect("servers start")
}

fn client(demo: &Demo, account: Account) -> UdpClient {
    demo.client(account).expect("the server answers")
}

/// Every server's chain, once they all agree (commits travel asynchronously); panics after
/// five seconds of disagreement.
fn agreed_chain(c: &UdpClient, servers: usize) -> Vec<Block> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let chains: Vec<Vec<Block>> = (0..servers)
            .map(|i| c.chain(Account::of_server(i)).expect("server answers"))
            .collect();
        if chains.windows(2).all(|w| w[0] == w[1]) {
            return chains[0].clone();
        }
        assert!(Instant::now() < deadline, "chains disagree: {chains:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn replay(chain: &[Block], servers: usize, initial: u64) -> Balances {
    Balances::replay(servers, initial, chain.iter().flat_map(|b| &b.transfers))
        .expect("a committed chain never overdraws")
}

#[test]
fn three_servers_agree_after_consensus_and_conserve_money() {
    let demo = start("agree", 3, 10);
    let mut a = client(&demo, A);
    let mut b = client(&demo, B);
    // Fast path on both sides, then A goes short and needs B's credit.
    assert_eq!(a.transfer(B, 6).unwrap().1, Outcome::Executed);
    assert_eq!(b.transfer(A, 5).unwrap().1, Outcome::Executed);
    assert_eq!(a.transfer(C, 8).unwrap().1, Outcome::ExecutedAfterConsensus);
    let chain = agreed_chain(&a, 3);
    assert!(chain.len() >= 2, "a block was committed");
    let balances = replay(&chain, 3, 10);
    assert_eq!(balances.total(), 30);
    // A's own view: the chain plus its log (the 8 units to C executed after the block).
    let (log, _) = a.log(A).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(balances.of(A) - log[0].amount, 1);
}

#[test]
fn the_course_example_prints_the_course_balances() {
    // Figures 1 to 3 of the course text: three servers, 100 units each.
    let demo = start("course", 3, 100);
    let mut a = client(&demo, A);
    let mut b = client(&demo, B);
    let mut c = client(&demo, C);
    let balance = |cl: &UdpClient, x: Account| match cl.balance(x, x).unwrap() {
        paxchain::ApiMsg::Balance { balance, .. } => balance,
        other => panic!("{other:?}"),
    };
    // Figure 1: everything executes locally.
    assert_eq!(a.transfer(C, 20).unwrap().1, Outcome::Executed);
    assert_eq!(a.transfer(B, 60).unwrap().1, Outcome::Executed);
    assert_eq!(b.transfer(A, 70).unwrap().1, Outcome::Executed);
    assert_eq!(c.transfer(A, 50).unwrap().1, Outcome::Executed);
    assert_eq!(balance(&a, A), 20);
    // Figure 2: A has 20 and sends 30: consensus brings B's and C's transfers, A has 140.
    assert_eq!(
        a.transfer(B, 30).unwrap().1,
        Outcome::ExecutedAfterConsensus
    );
    assert_eq!(
        balance(&a, A),
        110,
        "140 after the block, minus the 30 sent"
    );
    assert_eq!(b.transfer(C, 50).unwrap().1, Outcome::Executed);
    assert_eq!(c.transfer(B, 60).unwrap().1, Outcome::Executed);
    // Figure 3: B has 40 and sends 60: consensus, then it executes.
    assert_eq!(balance(&b, B), 40);
    assert_eq!(
        b.transfer(A, 60).unwrap().1,
        Outcome::ExecutedAfterConsensus
    );
    let chain = agreed_chain(&a, 3);
    assert_eq!(replay(&chain, 3, 100).total(), 300);
}

#[test]
fn garbage_datagrams_do_not_stop_a_server() {
    let demo = start("garbage", 3, 10);
    let mut a = client(&demo, A);
    let target = demo.cluster.servers[0].addr;
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let garbage: Vec<Vec<u8>> = vec![
        b"\x00\xff\xfe garbage".to_vec(),
        br#"{"Api":{"Submit":{"transfer":{"id":"#.to_vec(), // truncated
        br#"{"Peer":{"Prepare":{"ballot":{"round":1,"leader":9},"height":1}}}"#.to_vec(),
        vec![b'x'; 60_000], // oversized nonsense
        // Well-formed but refused: not A's account, and an account the cluster lacks.
        signed_json("B", "A"),
        signed_json("A", "Z"),
    ];
    for g in &garbage {
        s.send_to(g, target).unwrap();
    }
    // Still serving. An absurd amount is refused after consensus finds no money for it,
    // and an ordinary transfer then executes.
    let (_, outcome) = a.transfer(B, u64::MAX).unwrap();
    assert!(
        matches!(
            &outcome,
            Outcome::Rejected {
                reason: paxchain::Rejection::InsufficientFunds { .. }
            }
        ),
        "{outcome:?}"
    );
    let (_, outcome) = a.transfer(B, 1).unwrap();
    assert_eq!(outcome, Outcome::Executed);
    assert_eq!(a.log(A).unwrap().1, 1);
}

/// A well-formed transfer datagram from `from` to `to`, with a signature that is no one's.
fn signed_json(from: &str, to: &str) -> Vec<u8> {
    let sig = "00".repeat(64);
    format!(
        r#"{{"Api":{{"Submit":{{"transfer":{{"id":{{"client":"{from}","seq":7}},"from":"{from}","to":"{to}","amount":5,"signature":{{"Ed25519":"{sig}"}}}}}}}}}}"#
    )
    .into_bytes()
}

/// Every acknowledged id appears exactly once in the agreed chain or its owner's log.
fn assert_each_once(c: &UdpClient, chain: &[Block], acked: &[paxchain::TxId], servers: usize) {
    let mut seen: Vec<paxchain::TxId> = chain
        .iter()
        .flat_map(|b| b.transfers.iter().map(|t| t.id))
        .collect();
    for i in 0..servers {
        let (log, _) = c.log(Account::of_server(i)).unwrap();
        seen.extend(log.iter().map(|t| t.id).filter(|id| !chain_has(chain, *id)));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        seen.len(),
        "a transfer applied twice: {seen:?}"
    );
    for id in acked {
        assert!(seen.contains(id), "acknowledged {id} was lost");
    }
}

fn chain_has(chain: &[Block], id: paxchain::TxId) -> bool {
    chain.iter().any(|b| b.contains(id))
}

#[test]
fn killing_the_leader_mid_round_then_a_follower_loses_nothing() {
    let mut demo = start("faults", 3, 10);
    let mut a = client(&demo, A);
    let mut b = client(&demo, B);
    let mut c = client(&demo, C);
    let mut acked = Vec::new();
    let mut note = |r: Result<(paxchain::TxId, Outcome), _>| {
        if let Ok((id, o)) = r {
            if Outcome::is_executed(&o) {
                acked.push(id);
            }
        }
    };
    note(a.transfer(B, 8));
    note(b.transfer(A, 4));
    note(c.transfer(A, 3));
    // A goes short (2 left, sends 6): its round starts; SIGKILL it a moment later.
    let in_flight = std::thread::spawn(move || {
        let r = a.transfer(C, 6);
        (a, r)
    });
    std::thread::sleep(Duration::from_millis(3));
    demo.crash(A);
    std::thread::sleep(Duration::from_millis(200));
    demo.recover(A);
    let (a, r) = in_flight.join().unwrap();
    note(r);
    // Now a follower dies; C goes short (7 left, sends 9) and needs a quorum of A and C.
    demo.crash(B);
    note(c.transfer(B, 9));
    demo.recover(B);
    // B, back from its storage, goes short too: its election brings it up to date.
    note(b.transfer(C, 50));
    let chain = agreed_chain(&a, 3);
    assert_eq!(replay(&chain, 3, 10).total(), 30);
    assert_each_once(&a, &chain, &acked, 3);
    assert!(acked.len() >= 3, "{acked:?}");
}

/// Liveness fault 2 of the torture issue: a restarted server that missed many ballots must
/// not climb back one ballot per round timeout. B and C run 40 ballots while A is down (20
/// that commit a block, 20 that find nothing to agree on), then A's client asks for more
/// than the bank holds: A must lead a round of its own (the only way to a refusal) within
/// one round timeout of the request.
#[test]
fn a_restarted_server_that_missed_many_ballots_leads_within_one_round_timeout() {
    let mut demo = start("missed", 3, 100);
    let round_timeout = Duration::from_millis(demo.cluster.round_timeout_ms);
    let mut b = client(&demo, B);
    let mut c = client(&demo, C);
    demo.crash(A);
    for _ in 0..20 {
        // A block: B's fast transfer, gathered by the round B runs for a refusal.
        assert_eq!(b.transfer(C, 1).unwrap().1, Outcome::Executed);
        assert!(matches!(
            b.transfer(C, 1_000).unwrap().1,
            Outcome::Rejected { .. }
        ));
        // A ballot and no block: nothing is pending anywhere.
        assert!(matches!(
            c.transfer(B, 1_000).unwrap().1,
            Outcome::Rejected { .. }
        ));
    }
    let missed = match b.status(B).unwrap() {
        paxchain::ApiMsg::Status { promised, .. } => promised.round,
        other => panic!("{other:?}"),
    };
    assert!(missed >= 40, "B and C ran {missed} ballots");
    demo.recover(A);
    let mut a = client(&demo, A);
    let t = Instant::now();
    let (_, outcome) = a.transfer(B, 1_000).expect("A's client gets an answer");
    let took = t.elapsed();
    eprintln!("A missed {missed} ballots; its client's answer took {took:?}");
    assert!(
        matches!(
            outcome,
            Outcome::Rejected {
                reason: paxchain::Rejection::InsufficientFunds { .. }
            }
        ),
        "{outcome:?}"
    );
    assert!(
        took < round_timeout,
        "A missed {missed} ballots and needed {took:?} to lead (round timeout {round_timeout:?})"
    );
    let chain = agreed_chain(&a, 3);
    assert_eq!(replay(&chain, 3, 100).total(), 300);
}

/// A server whose storage log was damaged before its tail refuses to start, and says which
/// file and which byte; once the damage is undone it restarts with everything it held.
#[test]
fn a_server_refuses_to_start_over_a_damaged_middle_record() {
    use paxchain_deploy::cluster::Cluster;
    use paxchain_deploy::storage;
    let dir = std::env::temp_dir().join(format!("paxchain-test-damaged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cluster = Cluster::local(3, 0, 10);
    let ports = paxchain_deploy::demo::free_ports(3).unwrap();
    for (entry, port) in cluster.servers.iter_mut().zip(ports) {
        entry.addr.set_port(port);
    }
    let exe = env!("CARGO_BIN_EXE_paxchain").as_ref();
    let mut demo = Demo::launch(exe, &dir, cluster, Vec::new(), true).unwrap();
    let mut a = client(&demo, A);
    for _ in 0..3 {
        assert_eq!(a.transfer(B, 1).unwrap().1, Outcome::Executed);
    }
    demo.crash(A);
    let log = demo.data_dir(0).join(storage::FILE);
    let good = std::fs::read(&log).unwrap();
    let records = storage::frame::scan(&good).unwrap().records;
    assert!(records.len() >= 3, "one record per save: {}", records.len());
    let middle = records[1].0;
    let mut bad = good.clone();
    bad[middle as usize + storage::frame::HEADER] ^= 0x20;
    std::fs::write(&log, &bad).unwrap();

    demo.restart(0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = demo.exited(0) {
            break status;
        }
        assert!(Instant::now() < deadline, "the server started over damage");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "{status:?}");
    let said = demo.last_words(0);
    assert!(said.contains(&log.display().to_string()), "{said}");
    assert!(said.contains(&format!("byte {middle}")), "{said}");
    assert!(said.contains("refusing to start"), "{said}");
    assert_eq!(std::fs::read(&log).unwrap(), bad, "nothing was cut");

    std::fs::write(&log, &good).unwrap();
    demo.restart(0).unwrap();
    let a = client(&demo, A);
    assert_eq!(
        a.log(A).unwrap().1,
        3,
        "every acknowledged transfer is back"
    );
}

/// Group commit on a real server: 32 sessions of A in flight at once through one client.
/// Every transfer is answered `Executed`; the storage log holds far fewer saves than
/// transfers (one save answered many); and after a SIGKILL and a restart, every transfer
/// that was answered is in A's log, once.
#[test]
fn many_sessions_in_flight_share_saves_and_a_kill_loses_none_of_them() {
    use paxchain_deploy::pipeline::Pipeline;
    use paxchain_deploy::storage::{frame, FILE};
    let mut demo = start("group-commit", 3, 1_000_000);
    let (sessions, n) = (32, 3_000);
    let signer = demo.signer(A).expect("A's key");
    let mut p =
        Pipeline::connect(&demo.cluster, (A, signer), 1, sessions).expect("the server answers");
    let mut answered = Vec::new();
    let mut sent = 0;
    for slot in 0..sessions {
        p.submit(slot, B, 1).unwrap();
        sent += 1;
    }
    while answered.len() < n {
        let a = p.poll(Duration::from_secs(5)).unwrap().expect("an answer");
        assert_eq!(a.outcome, Outcome::Executed, "{a:?}");
        answered.push(a.id);
        if sent < n {
            p.submit(a.slot, B, 1).unwrap();
            sent += 1;
        }
    }
    let bytes = std::fs::read(demo.data_dir(0).join(FILE)).expect("A's storage log");
    let saves = frame::scan(&bytes).expect("a whole log").records.len();
    assert!(
        saves * 4 < n,
        "{saves} saves for {n} transfers: a save answered several sessions"
    );
    demo.crash(A);
    demo.restart(0).expect("A restarts");
    let (_, total) = client(&demo, B)
        .log(A)
        .expect("A answers after its restart");
    assert_eq!(total, n, "every answered transfer survived the kill");
    let stored = paxchain_deploy::storage::read(&demo.data_dir(0))
        .expect("a readable log")
        .expect("A saved");
    let mut logged: Vec<paxchain::TxId> = stored.log.iter().map(|t| t.id).collect();
    logged.sort();
    answered.sort();
    assert_eq!(logged, answered, "each answered transfer, once");
}

/// Well-formed forgeries are refused by a real server, and nothing moves: a transfer from A
/// signed with B's key, a captured signed transfer of A's sent again with another amount,
/// and one with no signature of A's at all.
#[test]
fn a_real_server_refuses_transfers_their_owner_did_not_sign() {
    use paxchain::signature::{sign, Signature};
    use paxchain::{ApiMsg, Rejection, Transfer, TxId};
    let demo = start("forged", 3, 10);
    let mut a = client(&demo, A);
    let b_key = demo.keys.get(B).expect("B's key");
    let a_key = demo.keys.get(A).expect("A's key");
    let server = a.server(A).unwrap();
    let seq = 100;
    let plain = |amount| Transfer::model_signed(TxId::new(A, seq), A, B, amount);
    let captured = sign(plain(1), a_key);
    let forgeries = [
        sign(plain(5), b_key),
        Transfer {
            amount: 9,
            ..captured.clone()
        },
        Transfer {
            signature: Signature::Model {
                signer: A,
                digest: 0,
            },
            ..plain(2)
        },
    ];
    for forged in forgeries {
        let answer = a
            .request(server, ApiMsg::Submit { transfer: forged }, |m| {
                matches!(m, ApiMsg::Outcome { .. })
            })
            .expect("an answer");
        let bad = Rejection::BadSignature {
            id: TxId::new(A, seq),
            from: A,
        };
        assert_eq!(
            answer,
            ApiMsg::Outcome {
                id: TxId::new(A, seq),
                outcome: Outcome::Rejected { reason: bad }
            }
        );
    }
    assert_eq!(a.log(A).unwrap().1, 0, "nothing executed");
    assert!(
        matches!(
            a.balance(A, A).unwrap(),
            ApiMsg::Balance { balance: 10, .. }
        ),
        "A's money untouched"
    );
    // The captured transfer itself, unaltered, is A's and executes.
    let answer = a
        .request(server, ApiMsg::Submit { transfer: captured }, |m| {
            matches!(m, ApiMsg::Outcome { .. })
        })
        .unwrap();
    assert!(matches!(
        answer,
        ApiMsg::Outcome {
            outcome: Outcome::Executed,
            ..
        }
    ));
    // A's client, which did not send it, learns where its session stands and goes on.
    a.resume().unwrap();
    assert_eq!(a.transfer(B, 1).unwrap().1, Outcome::Executed);
}

/// Peer datagrams are sealed: a real server drops, counts and does not answer a peer message
/// with no seal, one sealed with a key that is not its peer's, and an authentic one captured
/// on its way to another server; the same authentic one sent to its own receiver is taken.
#[test]
fn a_real_server_drops_and_counts_forged_and_misdirected_peer_datagrams() {
    use paxchain::{ApiMsg, Ballot, Height, Msg, PeerMsg};
    use paxchain_deploy::peers::{public, secret, PeerKeys};
    use paxchain_deploy::wire::{encode, encode_msg, Datagram};
    let demo = start("peers", 3, 10);
    let a = client(&demo, A);
    let (_, before) = a.dropped(A).expect("A answers a monitor");
    assert_eq!(before, 0);
    let prepare = PeerMsg::Prepare {
        ballot: Ballot::new(5, 1),
        height: Height(1),
    };
    let payload = postcard::to_allocvec(&prepare).unwrap();
    let publics: Vec<_> = (0..3)
        .map(|i| public(&secret(demo.keys.server(i).unwrap())))
        .collect();
    let b_keys = PeerKeys::derive(1, &secret(demo.keys.server(1).unwrap()), &publics);
    let outsider = PeerKeys::derive(1, &secret([42; 32]), &publics);
    let forged = [
        encode_msg(&Msg::Peer(prepare.clone())),
        encode(&Datagram::Sealed(outsider.seal(0, payload.clone()))).unwrap(),
        encode(&Datagram::Sealed(b_keys.seal(2, payload.clone()))).unwrap(),
    ];
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let to_a = a.server(A).unwrap();
    for bytes in &forged {
        socket.send_to(bytes, to_a).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while a.dropped(A).unwrap().1 < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(a.dropped(A).unwrap().1, 3, "each forgery counted");
    let mut buf = [0u8; 1024];
    assert!(socket.recv_from(&mut buf).is_err(), "and none answered");
    let promised = |c: &UdpClient| match c.status(A).unwrap() {
        ApiMsg::Status { promised, .. } => promised,
        other => panic!("{other:?}"),
    };
    assert_eq!(promised(&a), Ballot::ZERO, "nothing believed");
    // B's authentic PREPARE to A, sent to A: A promises (and answers B, not us).
    let authentic = encode(&Datagram::Sealed(b_keys.seal(0, payload))).unwrap();
    socket.send_to(&authentic, to_a).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while promised(&a) != Ballot::new(5, 1) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(promised(&a), Ballot::new(5, 1));
    assert_eq!(a.dropped(A).unwrap().1, 3);
}

/// The prompt asked about a crashed server says so at once, not after its resends; a
/// server that is up answers as before.
#[test]
fn the_prompt_says_a_crashed_server_is_down_at_once() {
    use paxchain_deploy::prompt::{PromptCommand, Session};
    let mut demo = start("prompt-down", 3, 10);
    let clients = [(A, client(&demo, A))].into_iter().collect();
    demo.kill(1);
    let mut session = Session {
        clients,
        default: Some(A),
        demo: None,
    };
    let asked = Instant::now();
    let said = session
        .run(PromptCommand::Balance(Some(B)))
        .expect("a line");
    assert_eq!(said, "server B is down (no answer within 300 ms)");
    assert!(
        asked.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        asked.elapsed()
    );
    let said = session
        .run(PromptCommand::Chain(Some(Account(7))))
        .expect("a line");
    assert_eq!(said, "there is no server H: the cluster has 3");
    let said = session.run(PromptCommand::Balance(None)).expect("a line");
    assert!(said.starts_with("balance of A: 10"), "{said}");
    let status = session.run(PromptCommand::Status).expect("a table");
    assert!(status.contains("B  server B is down"), "{status}");
}

/// A transfer nobody signed (`Signer::Model`) is refused by a cluster as deployed, and
/// executed only by one started without security, which the bench's `security` rows use.
#[test]
fn an_unsigned_transfer_is_refused_unless_the_cluster_runs_without_security() {
    use paxchain::Rejection;
    use paxchain_deploy::udp_client::Signer;
    let secured = start("unsigned-refused", 3, 10);
    let mut c = client(&secured, A).signed_by(Signer::Model);
    let (_, outcome) = c.transfer(B, 1).expect("an answer");
    assert!(
        matches!(
            outcome,
            Outcome::Rejected {
                reason: Rejection::BadSignature { .. }
            }
        ),
        "{outcome:?}"
    );
    drop(secured);
    let dir = std::env::temp_dir().join(format!("paxchain-test-unsecured-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let open = Demo::start_unauthenticated(env!("CARGO_BIN_EXE_paxchain").as_ref(), &dir, 3, 10)
        .expect("servers start");
    let mut c = client(&open, A);
    assert_eq!(c.transfer(B, 1).expect("an answer").1, Outcome::Executed);
}
