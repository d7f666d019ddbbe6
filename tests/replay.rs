//! Conformance: model traces replayed on real `paxchain server --conformance` processes
//! (harness/), compared with the model after every step. These are the CI-sized samples;
//! `paxchain-check replay --random 1000` runs the large ones.

use paxchain::{Account, Ballot};
use paxchain_deploy::conformance::{HarnessReply, HarnessRequest, REFUSED};
use paxchain_deploy::demo::Demo;
use paxchain_deploy::wire::{self, Datagram};
use paxchain_harness::coverage::Coverage;
use paxchain_harness::replay::{model, Replay, Session};
use paxchain_harness::traces::{replay, Trace, Verdict};
use paxchain_model::search::{Search, SearchOptions};
use paxchain_model::trace::{steps, Step};
use paxchain_model::walk::walk;
use paxchain_model::{scenarios, ModelConfig};
use stateright::{Checker, Expectation, Model};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::Duration;

fn how(name: &str) -> Replay {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("paxchain-replay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Replay::new(env!("CARGO_BIN_EXE_paxchain").into(), dir)
}

fn scenario(name: &str) -> ModelConfig {
    scenarios::by_name(name).expect("a preset").config
}

/// The literal variant's counterexamples, found by the checker, break the same properties
/// on the real servers after the same steps, and every step before matches.
#[test]
fn literal_counterexamples_break_the_real_servers_the_same_way() {
    let cfg = ModelConfig {
        variant: paxchain::Variant::Literal,
        ..scenario("default")
    };
    let searched = paxchain_model::build(&cfg);
    let options = SearchOptions {
        threads: 2,
        breadth_first: true,
        ..searched.search_options()
    };
    let found = Search::spawn(searched, options).join();
    let how = how("literal");
    let replayed = model(&cfg);
    let mut broken = Vec::new();
    for p in replayed.properties() {
        let Some(path) = found.discovery(p.name) else {
            continue;
        };
        let trace = Trace {
            name: p.name.to_string(),
            steps: steps(&path),
            breaks: (p.expectation == Expectation::Always).then(|| p.name.to_string()),
        };
        let (run, verdict) = replay(&how, &replayed, &trace, "literal").expect("the harness runs");
        assert_eq!(verdict, Verdict::Matched, "{}", p.name);
        assert_eq!(run.steps, trace.steps.len());
        if trace.breaks.is_some() {
            broken.push(p.name);
        }
    }
    assert!(
        broken.contains(&"no double spend"),
        "the literal variant's double spend is among them: {broken:?}"
    );
}

/// Random walks with crashes, loss, duplication and the network's attacker match step for
/// step.
#[test]
fn random_walks_with_crashes_and_loss_match() {
    let how = how("walks");
    let mut covered = Coverage::default();
    for (cfg, walks) in [
        (
            ModelConfig {
                max_crashes: 1,
                lossy: true,
                ..scenario("default")
            },
            30,
        ),
        (scenario("crash-loss"), 20),
        (scenario("sessions"), 40),
        // The network's attacker: the harness holds the same relays the model's network
        // does, every one compared after every step. (None is delivered: stateright takes
        // no step that changes nothing, and a correct server ignores every relay; the zoo's
        // `peer-check-ignores-receiver` replays one, which the real server drops.)
        (scenario("rogue-client"), 20),
    ] {
        let m = model(&cfg);
        for seed in 0..walks {
            let trace = Trace::walk(&m, seed, 40);
            covered.add(&m, &trace.steps);
            let (_, verdict) = replay(&how, &m, &trace, "walk").expect("the harness runs");
            assert_eq!(verdict, Verdict::Matched, "seed {seed}");
        }
    }
    assert!(
        covered.committed >= 10
            && covered.crashes >= 10
            && covered.losses >= 10
            && covered.flushes >= 5,
        "the walks reach commits, crashes, losses and timed flushes: {covered:?}"
    );
    let _ = std::fs::remove_dir_all(&how.dir);
}

/// A deliberate difference is found: a server whose disk loses its promise while it is
/// down comes back differing from the model at the recovery, in that field.
#[test]
fn a_server_that_forgets_its_promise_is_caught_at_its_restart() {
    let cfg = scenario("contest-crash");
    let m = model(&cfg);
    // A walk in which a server that has promised something crashes and recovers.
    let (steps, at, server) = (0..500)
        .find_map(|seed| {
            let steps = walk(&m, seed, 40);
            let mut state = m.init_states().pop()?;
            for (i, step) in steps.iter().enumerate() {
                if let Step::Recover { actor } = step {
                    let promised = state.actor_states[*actor].server()?.storage.promised;
                    if promised != Ballot::default() {
                        return Some((steps.clone(), i, *actor));
                    }
                }
                state = m.next_state(&state, step.to_action())?;
            }
            None
        })
        .expect("some walk restarts a server that has promised");
    let how = how("forget");
    let (mut s, first) = Session::start(&m, &how, "forget").expect("the harness runs");
    assert_eq!(first, None);
    let before = s.run(&steps[..at]).expect("the harness runs");
    assert_eq!(before.difference, None, "an undamaged run matches");
    s.damage_storage(server, |st| st.promised = Ballot::default())
        .expect("the storage file is there");
    let after = s.run(&steps[at..]).expect("the harness runs");
    let d = after.difference.expect("the forgotten promise shows");
    assert_eq!(d.step, at + 1, "at the restart");
    assert_eq!(
        d.place,
        format!("server {}, promised", Account::of_server(server))
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&how.dir);
}

/// A server started without `--conformance` refuses the harness's requests, and the
/// refusal says how to get them obeyed.
#[test]
fn a_normal_server_refuses_harness_requests() {
    let dir = std::env::temp_dir().join(format!("paxchain-refuse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let demo =
        Demo::start(env!("CARGO_BIN_EXE_paxchain").as_ref(), &dir, 3, 10).expect("servers start");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let request = wire::encode(&Datagram::Harness(HarnessRequest::ReportState)).unwrap();
    let mut buf = [0u8; 65_536];
    let reply = (0..50).find_map(|_| {
        socket
            .send_to(&request, demo.cluster.servers[0].addr)
            .ok()?;
        let (n, _) = socket.recv_from(&mut buf).ok()?;
        wire::parse(&buf[..n]).ok()
    });
    assert_eq!(
        reply,
        Some(Datagram::HarnessReply(HarnessReply::Refused {
            reason: REFUSED.to_string()
        }))
    );
    assert!(REFUSED.contains("--conformance"));
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);
}
