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
