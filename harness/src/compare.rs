//! What "the same" means: a real server's state against the model's, and the datagrams in
//! flight against the model's network.
//!
//! A server's state is compared whole (`ServerState` equality), and a difference is
//! reported by its first differing field, in the order a reader checks them: the durable
//! fields (promised ballot, accepted block, chain, log, last outcome), then the volatile
//! ones (the round it leads, the transfer it is waiting on). The one field that names an
//! actor, the client a waiting transfer is answered to, is translated from the harness's
//! socket address to the model's actor index before comparing.
//!
//! What a server has saved is compared apart from what it holds in memory: the storage file
//! on its disk against the model's last save of that server. A server that answers before
//! saving, or a codec that drops a field, differs here even while memory agrees.
//!
//! The network is compared per link `(sender, receiver)`. An ordered network is compared as
//! the sequence on each link; an unordered one as a multiset; a duplicating one as a set
//! (the model keeps a delivered message for redelivery, and holds a message sent twice
//! once). Only what servers sent is compared: the clients' datagrams are the model's own,
//! sent by the harness.

use paxchain::{Msg, ServerState, Storage};
use paxchain_model::NetworkKind;
use stateright::actor::Network;
use std::collections::BTreeMap;
use std::fmt;

/// The first place a real run differs from the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The step after which it was seen (0: before the first step).
    pub step: usize,
    /// The step, for people.
    pub what: String,
    /// Where: `server A, field log`, or `network, B → C`.
    pub place: String,
    pub model: String,
    pub real: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "step {}: {}", self.step, self.what)?;
        writeln!(f, "  differs at: {}", self.place)?;
        writeln!(f, "  model: {}", self.model)?;
        write!(f, "  real:  {}", self.real)
    }
}

/// A durable field, shown for comparison.
type StorageField = (&'static str, fn(&Storage) -> String);

const STORAGE_FIELDS: [StorageField; 5] = [
    ("promised", |s| format!("{}", s.promised)),
    ("accepted", |s| format!("{:?}", s.accepted)),
    ("chain", |s| format!("{:?}", s.chain)),
    ("log", |s| format!("{:?}", s.log)),
    ("last outcomes", |s| format!("{:?}", s.last_outcomes)),
];

/// A volatile field, shown for comparison.
type VolatileField = (&'static str, fn(&ServerState) -> String);

const VOLATILE_FIELDS: [VolatileField; 5] = [
    ("round", |s| format!("{:?}", s.round)),
    ("waiting", |s| format!("{:?}", s.waiting)),
    ("staged", |s| format!("{:?}", s.staged)),
    ("idle", |s| format!("{:?}", s.idle)),
    ("instrumentation", |s| format!("{:?}", s.instrumentation)),
];

/// A differing field: its name, the model's value and the real one.
pub type FieldDifference = (&'static str, String, String);

fn first_storage_field(model: &Storage, real: &Storage) -> Option<FieldDifference> {
    STORAGE_FIELDS.iter().find_map(|(name, show)| {
        let (m, r) = (show(model), show(real));
        (m != r).then_some((*name, m, r))
    })
}

/// The first field in which `real` differs from `model`.
pub fn server_state(model: &ServerState, real: &ServerState) -> Option<FieldDifference> {
    if model == real {
        return None;
    }
    let volatile = || {
        VOLATILE_FIELDS.iter().find_map(|(name, show)| {
            let (m, r) = (show(model), show(real));
            (m != r).then_some((*name, m, r))
        })
    };
    let differing = first_storage_field(&model.storage, &real.storage).or_else(volatile);
    Some(differing.unwrap_or_else(|| ("state", format!("{model:?}"), format!("{real:?}"))))
}

/// The first field in which what a server saved on its disk differs from what the model's
/// server saved (`None`: nothing saved yet).
pub fn saved(model: &Option<Storage>, real: &Option<Storage>) -> Option<FieldDifference> {
    match (model, real) {
        (None, None) => None,
        (Some(m), Some(r)) if m == r => None,
        (Some(m), Some(r)) => Some(
            first_storage_field(m, r)
                .unwrap_or_else(|| ("storage", format!("{m:?}"), format!("{r:?}"))),
        ),
        (m, r) => Some((
            "whether anything is saved",
            format!("{}", m.is_some()),
            format!("{}", r.is_some()),
        )),
    }
}

/// Messages in flight, per link `(src, dst)` by actor index.
pub type Links = BTreeMap<(usize, usize), Vec<Msg>>;

pub use paxchain_model::network::envelopes;

/// The model network's messages from servers (actors `0..servers`), per link, in the form
/// its kind compares in.
pub fn model_links(network: &Network<Msg>, servers: usize, kind: NetworkKind) -> Links {
    let mut links = Links::new();
    for e in envelopes(network) {
        let (src, dst) = (usize::from(e.src), usize::from(e.dst));
        if src < servers {
            links.entry((src, dst)).or_default().push(e.msg);
        }
    }
    normalize(links, kind)
}

/// Per link in arrival order, as `kind` compares it.
pub fn normalize(mut links: Links, kind: NetworkKind) -> Links {
    for l in links.values_mut() {
        match kind {
            NetworkKind::Ordered => {}
            NetworkKind::Unordered => l.sort(),
            NetworkKind::Duplicating => {
                l.sort();
                l.dedup();
            }
        }
    }
    links.retain(|_, l| !l.is_empty());
    links
}

/// A link on which two networks differ: the link, the model's messages, the real ones.
pub type LinkDifference = ((usize, usize), Vec<Msg>, Vec<Msg>);

/// The first link on which the two differ.
pub fn links(model: &Links, real: &Links) -> Option<LinkDifference> {
    let keys: std::collections::BTreeSet<_> = model.keys().chain(real.keys()).collect();
    keys.into_iter().find_map(|k| {
        let (m, r) = (model.get(k).cloned(), real.get(k).cloned());
        (m != r).then(|| (*k, m.unwrap_or_default(), r.unwrap_or_default()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use paxchain::msg::ApiMsg;
    use paxchain::Ballot;

    #[test]
    fn the_first_differing_field_is_named() {
        let a = ServerState::fresh();
        assert_eq!(server_state(&a, &a.clone()), None);
        let mut b = a.clone();
        b.storage = Storage {
            promised: Ballot::new(2, 1),
            ..Storage::default()
        };
        let (field, m, r) = server_state(&a, &b).expect("they differ");
        assert_eq!(field, "promised");
        assert_ne!(m, r);
        let mut c = a.clone();
        c.round = None;
        c.instrumentation.restarted_at = Some(paxchain::Height::default());
        assert_eq!(server_state(&a, &c).unwrap().0, "instrumentation");
        assert_eq!(saved(&None, &None), None);
        assert_eq!(
            saved(&Some(a.storage.clone()), &Some(a.storage.clone())),
            None
        );
        assert_eq!(
            saved(&Some(a.storage.clone()), &Some(b.storage.clone()))
                .unwrap()
                .0,
            "promised"
        );
        assert_eq!(
            saved(&None, &Some(b.storage)).unwrap().0,
            "whether anything is saved"
        );
    }

    #[test]
    fn networks_compare_as_their_kind_delivers() {
        let (x, y) = (
            Msg::Api(ApiMsg::GetLog),
            Msg::Api(ApiMsg::GetBalance {
                account: paxchain::Account(0),
            }),
        );
        let sent = Links::from([((0, 1), vec![y.clone(), x.clone(), x.clone()])]);
        let reordered = Links::from([((0, 1), vec![x.clone(), y.clone(), x.clone()])]);
        let once = Links::from([((0, 1), vec![x.clone(), y.clone()])]);
        let n = |l: &Links, k| normalize(l.clone(), k);
        use NetworkKind::*;
        assert!(links(&n(&sent, Ordered), &n(&reordered, Ordered)).is_some());
        assert!(links(&n(&sent, Unordered), &n(&reordered, Unordered)).is_none());
        assert!(links(&n(&sent, Unordered), &n(&once, Unordered)).is_some());
        assert!(links(&n(&sent, Duplicating), &n(&once, Duplicating)).is_none());
        let (link, m, r) = links(&n(&sent, Ordered), &Links::new()).unwrap();
        assert_eq!((link, m.len(), r.len()), ((0, 1), 3, 0));
    }
}
