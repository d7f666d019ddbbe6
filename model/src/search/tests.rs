//! The search on a model small enough to count by hand.

use super::*;
use stateright::Checker;
use std::collections::BTreeSet;

/// Two counters, each raised by one up to `max`; `sometimes` both at `max`, `always`
/// below `bad` in sum, `eventually` the first at `max`.
struct Counters {
    max: u8,
    bad: u8,
}

impl Model for Counters {
    type State = (u8, u8);
    type Action = u8;
    fn init_states(&self) -> Vec<(u8, u8)> {
        vec![(0, 0)]
    }
    fn actions(&self, s: &(u8, u8), actions: &mut Vec<u8>) {
        actions.extend(
            [0, 1]
                .into_iter()
                .filter(|&i| [s.0, s.1][i as usize] < self.max),
        );
    }
    fn next_state(&self, s: &(u8, u8), a: u8) -> Option<(u8, u8)> {
        Some(if a == 0 {
            (s.0 + 1, s.1)
        } else {
            (s.0, s.1 + 1)
        })
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::sometimes("both full", |m: &Counters, s: &(u8, u8)| {
                s.0 == m.max && s.1 == m.max
            }),
            Property::always("sum below bad", |m: &Counters, s: &(u8, u8)| {
                s.0 + s.1 < m.bad
            }),
            Property::eventually("first full", |m: &Counters, s: &(u8, u8)| s.0 == m.max),
        ]
    }
}

fn run(model: Counters, options: SearchOptions<Counters>) -> Search<Counters> {
    Search::spawn(model, options).join()
}

#[test]
fn a_complete_search_counts_every_state_once_in_either_order_on_any_threads() {
    for threads in [1, 2, 3] {
        for breadth_first in [false, true] {
            let options = SearchOptions {
                threads,
                breadth_first,
                ..Default::default()
            };
            let done = run(Counters { max: 20, bad: 255 }, options);
            assert_eq!(done.unique_state_count(), 21 * 21);
            assert_eq!(done.state_count(), 1 + 2 * 20 * 21);
            assert_eq!(done.max_depth(), 41);
            let found = done.discoveries();
            let names: BTreeSet<_> = found.keys().copied().collect();
            assert_eq!(names, BTreeSet::from(["both full"]));
            assert_eq!(found["both full"].last_state(), &(20, 20));
        }
    }
}

#[test]
fn a_violation_stops_the_search_with_a_path_to_it() {
    let options = SearchOptions {
        finish_when: HasDiscoveries::AnyFailures,
        breadth_first: true,
        ..Default::default()
    };
    let done = run(Counters { max: 20, bad: 5 }, options);
    let path = &done.discoveries()["sum below bad"];
    let last = *path.last_state();
    assert_eq!(
        last.0 + last.1,
        5,
        "breadth first on one thread: the shortest"
    );
    assert_eq!(path.clone().into_actions().len(), 5);
    assert!(done.unique_state_count() < 21 * 21);
}

#[test]
fn an_eventually_property_is_judged_where_a_path_ends() {
    // With the depth bound no path reaches the end, so no path is judged.
    let bounded = SearchOptions {
        max_depth: Some(5),
        ..Default::default()
    };
    let done = run(Counters { max: 3, bad: 255 }, bounded);
    assert!(!done.discoveries().contains_key("first full"));
    // A model whose only path ends before the first counter is full breaks it.
    struct Stuck;
    impl Model for Stuck {
        type State = u8;
        type Action = ();
        fn init_states(&self) -> Vec<u8> {
            vec![0]
        }
        fn actions(&self, s: &u8, actions: &mut Vec<()>) {
            if *s < 3 {
                actions.push(());
            }
        }
        fn next_state(&self, s: &u8, _: ()) -> Option<u8> {
            Some(s + 1)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![Property::eventually("reaches 4", |_: &Stuck, s| *s == 4)]
        }
    }
    let done = Search::spawn(Stuck, SearchOptions::default()).join();
    assert_eq!(done.discoveries()["reaches 4"].last_state(), &3);
}

#[test]
fn a_state_bound_and_a_depth_bound_cut_the_search_short() {
    let by_states = SearchOptions {
        max_states: Some(50),
        ..Default::default()
    };
    let done = run(Counters { max: 20, bad: 255 }, by_states);
    assert!(done.state_count() >= 50 && done.state_count() < 60);
    let by_depth = SearchOptions {
        max_depth: Some(3),
        ..Default::default()
    };
    let done = run(Counters { max: 20, bad: 255 }, by_depth);
    assert_eq!(done.unique_state_count(), 1 + 2 + 3, "depths 1 to 3");
}

#[test]
fn a_panicking_property_ends_the_search_on_every_thread() {
    struct Panics;
    impl Model for Panics {
        type State = u32;
        type Action = u32;
        fn init_states(&self) -> Vec<u32> {
            vec![0]
        }
        fn actions(&self, _: &u32, actions: &mut Vec<u32>) {
            actions.extend([1, 2]);
        }
        fn next_state(&self, s: &u32, a: u32) -> Option<u32> {
            (*s < 100_000).then_some(s + a)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![Property::always(
                "panics at 5,000",
                |_: &Panics, s: &u32| {
                    assert!(*s != 5_000, "a property that panics");
                    true
                },
            )]
        }
    }
    let options = SearchOptions {
        threads: 2,
        ..Default::default()
    };
    let mut search = Search::spawn(Panics, options);
    let outcomes: Vec<bool> = search
        .handles()
        .into_iter()
        .map(|h| h.join().is_ok())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|ok| !**ok).count(),
        1,
        "one thread panicked"
    );
    assert!(search.is_done());
}

#[test]
fn a_discovery_path_takes_its_steps_in_the_order_they_were_taken() {
    // Words of up to three letters: only the steps in order spell the example.
    struct Words;
    impl Model for Words {
        type State = String;
        type Action = char;
        fn init_states(&self) -> Vec<String> {
            vec![String::new()]
        }
        fn actions(&self, s: &String, actions: &mut Vec<char>) {
            if s.len() < 3 {
                actions.extend(['a', 'b']);
            }
        }
        fn next_state(&self, s: &String, a: char) -> Option<String> {
            Some(format!("{s}{a}"))
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![Property::sometimes(
                "spells aab",
                |_: &Words, s: &String| s == "aab",
            )]
        }
    }
    for breadth_first in [false, true] {
        let options = SearchOptions {
            breadth_first,
            ..Default::default()
        };
        let done = Search::spawn(Words, options).join();
        let (init, actions) = &done.discovered_actions()["spells aab"];
        assert_eq!((*init, actions.clone()), (0, vec!['a', 'a', 'b']));
        assert_eq!(done.discoveries()["spells aab"].last_state(), "aab");
    }
}

/// A model check that refuses every discovery, as `paxchain_model::reference::confirm`
/// refuses one whose steps build another state through stateright's own step.
fn refuse(_: &Counters, _: usize, _: &[u8], _: &(u8, u8), p: Option<usize>) -> Result<(), String> {
    Err(format!("refused (property {p:?})"))
}

#[test]
fn a_discovery_that_does_not_stand_is_a_defect_and_the_search_goes_on() {
    for threads in [1, 2] {
        let options = SearchOptions {
            threads,
            confirm: Some(refuse as Confirm<Counters>),
            ..Default::default()
        };
        let done = run(Counters { max: 3, bad: 5 }, options);
        assert!(done.discoveries().is_empty(), "nothing refused is kept");
        let defects = done.defects();
        assert!(!defects.is_empty());
        assert!(defects
            .iter()
            .all(|d| d.why.starts_with("refused (property Some(")));
        // Every property judged wrongly is given up after a few defects; the search still
        // visits every state (a stop at the first would leave most of the 16 unseen).
        let of = |p| defects.iter().filter(|d| d.property == Some(p)).count();
        assert!(of("sum below bad") <= MAX_DEFECTS_PER_PROPERTY);
        assert_eq!(done.unique_state_count(), 16, "{threads} threads");
    }
}

#[test]
fn audits_replay_the_path_to_every_nth_state() {
    let options = SearchOptions {
        audit_every: Some(3),
        confirm: Some(refuse as Confirm<Counters>),
        ..Default::default()
    };
    let done = run(Counters { max: 3, bad: 255 }, options);
    let audited = done
        .defects()
        .iter()
        .filter(|d| d.property.is_none())
        .count();
    assert_eq!(
        audited,
        16 / 3,
        "one audit in three of the 16 states expanded"
    );
    let options = SearchOptions {
        audit_every: Some(1),
        ..Default::default()
    };
    let fine = run(Counters { max: 3, bad: 255 }, options);
    assert!(
        fine.defects().is_empty(),
        "every path replays: {:?}",
        fine.defects()
    );
}

/// A model whose step is not a function of its state: its second call takes two steps at
/// once, as a memo that answered from the wrong entry once would.
struct Flaky {
    calls: std::sync::atomic::AtomicUsize,
}

impl Model for Flaky {
    type State = u8;
    type Action = ();
    fn init_states(&self) -> Vec<u8> {
        vec![0]
    }
    fn actions(&self, s: &u8, actions: &mut Vec<()>) {
        if *s < 12 {
            actions.push(());
        }
    }
    fn next_state(&self, s: &u8, _: ()) -> Option<u8> {
        let second = self.calls.fetch_add(1, Ordering::Relaxed) == 1;
        Some(s + if second { 2 } else { 1 })
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::always("never 5", |_: &Flaky, s: &u8| *s != 5)]
    }
}

#[test]
fn a_discovery_whose_trail_leads_elsewhere_is_a_defect_of_the_search() {
    let flaky = Flaky {
        calls: Default::default(),
    };
    let done = Search::spawn(flaky, SearchOptions::default()).join();
    // The search goes 0, 1, 3, 4, 5 and judges 5 a violation; replayed, the same four steps
    // go 0, 1, 2, 3, 4. The discovery is a defect, and the search goes on to the end (12).
    let defects = done.defects();
    assert_eq!(defects.len(), 1, "{defects:?}");
    assert_eq!(defects[0].property, Some("never 5"));
    assert_eq!(defects[0].steps, 4);
    assert!(defects[0]
        .why
        .contains("does not lead to the state it judged"));
    assert!(done.discoveries().is_empty());
    assert_eq!(
        done.max_depth(),
        12,
        "the states 0, 1 and 3 to 12, one after another"
    );
}
