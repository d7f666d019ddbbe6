//! The storage log against crashes, damage and growth.

use super::*;
use paxchain::{Account, Ballot, Block, Height, Transfer, TxId};
use std::sync::Arc;

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("paxchain-store-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("a temporary directory");
    d
}

/// `s` with one more block on its chain, carrying `n` transfers, and a higher promise.
fn grown(s: &Storage, n: u32) -> Storage {
    let mut chain = (*s.chain).clone();
    let tip = chain.tip().clone();
    let round = tip.height.0 + 1;
    let transfers = (0..n)
        .map(|i| {
            Transfer::model_signed(
                TxId::new(Account(0), round * 1000 + i),
                Account(0),
                Account(1),
                1,
            )
        })
        .collect();
    let block = Block::new(
        tip.height.next(),
        Ballot::new(round, 0),
        tip.hash,
        transfers,
    );
    chain.append(Arc::new(block)).expect("a linked block");
    Storage {
        chain: Arc::new(chain),
        promised: Ballot::new(round, 1),
        ..s.clone()
    }
}

fn saves(d: &Path, n: usize) -> Vec<Storage> {
    let (mut store, found) = Store::open(d, StoreOptions::default()).unwrap();
    assert_eq!(found, None, "a new directory holds nothing");
    let mut all = vec![Storage::default()];
    for _ in 0..n {
        let next = grown(all.last().unwrap(), 3);
        store.save(&next).unwrap();
        all.push(next);
    }
    all
}

#[test]
fn a_reopened_store_holds_the_last_save() {
    let d = dir("reopen");
    let all = saves(&d, 20);
    let (_, found) = Store::open(&d, StoreOptions::default()).unwrap();
    assert_eq!(found.as_ref(), all.last());
    assert_eq!(
        read(&d).unwrap().as_ref(),
        all.last(),
        "the harness reads the same"
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_cut_at_every_byte_of_the_last_record_restarts_from_the_save_before() {
    let d = dir("torn");
    let all = saves(&d, 3);
    let whole = fs::read(d.join(FILE)).unwrap();
    let scan = frame::scan(&whole).unwrap();
    let last_start = scan.records.last().unwrap().0 as usize;
    for cut in last_start..whole.len() {
        fs::write(d.join(FILE), &whole[..cut]).unwrap();
        let (mut store, found) = Store::open(&d, StoreOptions::default())
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_eq!(found.as_ref(), Some(&all[2]), "cut at {cut}");
        assert_eq!(fs::metadata(d.join(FILE)).unwrap().len(), last_start as u64);
        // The server goes on saving after the repaired tail.
        store.save(&all[3]).unwrap();
        drop(store);
        let (_, found) = Store::open(&d, StoreOptions::default()).unwrap();
        assert_eq!(
            found.as_ref(),
            Some(&all[3]),
            "cut at {cut}, then saved again"
        );
    }
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_corrupt_middle_record_stops_the_server_naming_the_file_and_offset() {
    let d = dir("corrupt");
    saves(&d, 3);
    let mut bytes = fs::read(d.join(FILE)).unwrap();
    let scan = frame::scan(&bytes).unwrap();
    let middle = scan.records[1].0 as usize;
    bytes[middle + frame::HEADER] ^= 0x40;
    fs::write(d.join(FILE), &bytes).unwrap();
    let e = Store::open(&d, StoreOptions::default())
        .err()
        .expect("refused");
    let text = e.to_string();
    assert!(text.contains(&d.join(FILE).display().to_string()), "{text}");
    assert!(text.contains(&format!("byte {middle}")), "{text}");
    assert!(text.contains("refusing to start"), "{text}");
    assert_eq!(
        fs::read(d.join(FILE)).unwrap(),
        bytes,
        "nothing is cut or rewritten"
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn garbage_and_forged_chains_are_refused() {
    let d = dir("garbage");
    fs::write(d.join(FILE), b"{\"promised\": 7}").unwrap();
    let e = Store::open(&d, StoreOptions::default())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("not a paxchain storage log"), "{e}");

    let mut chain = paxchain::Chain::new();
    let stray = Block::new(
        paxchain::Height(1),
        Ballot::ZERO,
        paxchain::chain::Digest([7; 32]),
        vec![],
    );
    chain.append_unchecked(Arc::new(stray));
    let forged = Storage {
        chain: Arc::new(chain),
        ..Storage::default()
    };
    overwrite(&d, &forged).unwrap();
    let e = Store::open(&d, StoreOptions::default())
        .err()
        .expect("refused");
    assert!(matches!(e, StoreError::DamagedChain { .. }), "{e}");
    assert_eq!(
        read(&d).unwrap(),
        Some(forged),
        "the harness still reads what is there"
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_save_costs_what_changed_however_long_the_chain() {
    let d = dir("cost");
    let (mut store, _) = Store::open(&d, StoreOptions::default()).unwrap();
    let mut s = Storage::default();
    let mut record = Vec::new();
    for i in 0..2000 {
        let next = grown(&s, 3);
        let before = store.log_bytes();
        store.save(&next).unwrap();
        if i == 10 || i == 1999 {
            record.push(store.log_bytes() - before);
        }
        s = next;
    }
    // The same change (a block of three transfers and a promise) costs the same bytes at
    // 10 blocks and at 2,000, but for the varints of the larger numbers (height, three
    // ballot rounds, three sequence numbers: a byte each). The chain alone would be
    // hundreds of kilobytes.
    assert!(record[1] <= record[0] + 8, "{record:?}");
    let before = store.log_bytes();
    store.save(&s).unwrap();
    assert_eq!(
        store.log_bytes(),
        before,
        "an unchanged storage writes nothing"
    );
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn compaction_bounds_the_log_and_keeps_the_last_save() {
    let d = dir("compact");
    let options = StoreOptions {
        compact_at: StoreOptions::MIN_COMPACT_AT,
    };
    let (mut store, _) = Store::open(&d, options).unwrap();
    let mut s = Storage::default();
    let mut longest = 0;
    for round in 0..3000u32 {
        s.promised = Ballot::new(round + 1, 0);
        store.save(&s).unwrap();
        longest = longest.max(store.log_bytes());
    }
    assert!(longest <= options.compact_at + 64, "{longest}");
    assert!(
        !d.join("paxchain.tmp").exists(),
        "no temporary file is left"
    );
    drop(store);
    let (_, found) = Store::open(&d, options).unwrap();
    assert_eq!(found, Some(s));
    assert!(StoreOptions { compact_at: 1 }.validate().is_err());
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn an_earlier_versions_copy_is_refused_with_a_clear_error() {
    let d = dir("legacy");
    // As the version before the storage log wrote it: one last outcome, no signatures.
    let paid =
        serde_json::json!({"id": {"client": "B", "seq": 4}, "from": "B", "to": "A", "amount": 2});
    let text = serde_json::json!({
        "promised": {"round": 3, "waited": 0, "leader": 1},
        "accepted": null,
        "chain": [Block::genesis()],
        "log": [paid],
        "last_outcome": {"transfer": paid, "outcome": "Executed"},
    });
    fs::write(d.join(LEGACY_FILE), serde_json::to_vec(&text).unwrap()).unwrap();
    let e = Store::open(&d, StoreOptions::default())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("before signed transfers"), "{e}");
    assert!(!d.join(FILE).exists(), "nothing written over it");
    fs::remove_dir_all(&d).unwrap();
}

/// A save costs what changed in the log too: one transfer appended to a log of 20,000 is a
/// record of one transfer, and a block that takes the oldest is a count.
#[test]
fn a_save_of_a_long_log_writes_what_changed_in_it() {
    let d = dir("long-log");
    let t =
        |seq: u32| Transfer::model_signed(TxId::new(Account(0), seq), Account(0), Account(1), 1);
    let mut s = Storage::default();
    let log = Arc::make_mut(&mut s.log);
    (1..=20_000).for_each(|seq| log.push(t(seq)));
    let (mut store, _) = Store::open(&d, StoreOptions::default()).unwrap();
    store.save(&s).unwrap();
    let whole = store.log_bytes();
    assert!(
        whole > 20_000 * 8,
        "the first save writes the log: {whole} bytes"
    );
    Arc::make_mut(&mut s.log).push(t(20_001));
    store.save(&s).unwrap();
    let one = store.log_bytes() - whole;
    assert!(
        one < 64,
        "one transfer appended is a small record: {one} bytes"
    );
    let mut chain = (*s.chain).clone();
    let tip = chain.tip().clone();
    let block = Block::new(
        Height(1),
        Ballot::new(1, 0),
        tip.hash,
        (1..=500).map(t).collect(),
    );
    chain.append(Arc::new(block.clone())).unwrap();
    s.chain = Arc::new(chain);
    assert!(Arc::make_mut(&mut s.log).absorb(&block));
    let before = store.log_bytes();
    store.save(&s).unwrap();
    let block_and_trim = store.log_bytes() - before;
    assert!(
        block_and_trim < 500 * 24,
        "the block and a count: {block_and_trim} bytes"
    );
    drop(store);
    let (_, found) = Store::open(&d, StoreOptions::default()).unwrap();
    assert_eq!(found.as_ref().map(|f| f.log.len()), Some(19_501));
    assert_eq!(found, Some(s));
    fs::remove_dir_all(&d).unwrap();
}

quickcheck::quickcheck! {
    /// Any sequence of storages saved and reopened comes back as the last one.
    fn any_saved_sequence_reopens_as_its_last(seed: u64, n: u8) -> bool {
        let mut g = quickcheck::Gen::new(8 + (seed % 16) as usize);
        let d = dir(&format!("qc-{seed}-{n}"));
        let (mut store, _) = Store::open(&d, StoreOptions::default()).unwrap();
        let mut last = None;
        for _ in 0..(n % 8) {
            let s = crate::arbitrary::storage(&mut g);
            store.save(&s).unwrap();
            last = Some(s);
        }
        drop(store);
        let (_, found) = Store::open(&d, StoreOptions::default()).unwrap();
        fs::remove_dir_all(&d).unwrap();
        found == last
    }
}
