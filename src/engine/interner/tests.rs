use super::*;
use std::collections::HashSet;
use std::sync::atomic::AtomicBool;

/// Short names (kept in the slot) and long ones (checked against the list).
fn name(index: usize) -> String {
    if index.is_multiple_of(5) {
        format!("a-sku-name-longer-than-the-inline-bytes-{index}")
    } else {
        format!("SKU-{index}")
    }
}

#[test]
fn ids_are_dense_in_order_and_read_back() {
    let interner = SkuInterner::default();
    for index in 0..5_000 {
        assert_eq!(interner.intern(&name(index), None).unwrap(), SkuId(index as u32));
    }
    assert_eq!(interner.len(), 5_000);
    for index in 0..5_000 {
        assert_eq!(interner.intern(&name(index), None).unwrap(), SkuId(index as u32), "interning again");
        assert_eq!(interner.get(&name(index)), Some(SkuId(index as u32)));
        assert_eq!(&*interner.name(SkuId(index as u32)), name(index));
        assert_eq!(interner.name_string(SkuId(index as u32)), name(index));
    }
    let names = interner.names();
    assert_eq!(names.len(), 5_000);
    assert!(names.iter().enumerate().all(|(index, listed)| **listed == *name(index)));
}

#[test]
fn unknown_and_near_miss_names_are_not_found() {
    let interner = SkuInterner::default();
    for index in 0..300 {
        interner.intern(&name(index), None).unwrap();
    }
    // Same first 24 bytes, same length class, different tail; a prefix; a longer one.
    let long = name(5);
    let mut altered = long.clone();
    altered.pop();
    altered.push('x');
    for probe in [altered.as_str(), &long[..24], &long[..25], "SKU-1\0", "SKU-", "SKU-300", "", "x"] {
        assert_eq!(interner.get(probe), None, "{probe:?}");
    }
    let over_255 = "y".repeat(300);
    assert_eq!(interner.get(&over_255), None);
    let id = interner.intern(&over_255, None).unwrap();
    assert_eq!(interner.get(&over_255), Some(id));
    assert_eq!(interner.get(&"y".repeat(299)), None, "lengths past 255 share a header");
}

#[test]
fn get_many_answers_what_get_would() {
    let interner = SkuInterner::default();
    for index in (0..2_000).step_by(2) {
        interner.intern(&name(index), None).unwrap();
    }
    let asked: Vec<String> = (0..200).map(|index| name(index * 7)).collect();
    let mut found = vec![None; asked.len()];
    interner.get_many(&asked, &mut found);
    let alone: Vec<Option<SkuId>> = asked.iter().map(|name| interner.get(name)).collect();
    assert_eq!(found, alone);
    assert!(found.iter().any(Option::is_some) && found.iter().any(Option::is_none));
}

/// Threads intern overlapping sets of names (every name by several threads) while
/// others look names up, through several table growths. Every name gets exactly
/// one id, ids are dense, and a lookup that finds a name finds its one id and a
/// name that reads back whole (never a half-built entry).
#[test]
fn concurrent_interns_and_lookups_agree() {
    const NAMES: usize = 20_000;
    const WRITERS: usize = 4;
    let interner = SkuInterner::default();
    let done = AtomicBool::new(false);
    let names: Vec<String> = (0..NAMES).map(name).collect();
    let handed_out: Vec<Vec<(usize, SkuId)>> = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|reader| {
                let (interner, names, done) = (&interner, &names, &done);
                scope.spawn(move || {
                    let mut seen = 0usize;
                    let mut found = vec![None; 48];
                    let mut round = 0usize;
                    while !done.load(Ordering::Acquire) {
                        round += 1;
                        let start = (round * 48 + reader * 7_919) % (NAMES - 48);
                        let group = &names[start..start + 48];
                        interner.get_many(group, &mut found);
                        for (asked, id) in group.iter().zip(&found) {
                            if let Some(id) = id {
                                assert_eq!(&*interner.name(*id), asked.as_str(), "a found id names its name");
                                assert_eq!(interner.get(asked), Some(*id), "a name keeps its id");
                                assert!(interner.len() > id.index(), "a findable id is counted");
                                seen += 1;
                            }
                        }
                    }
                    seen
                })
            })
            .collect();
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (interner, names) = (&interner, &names);
                scope.spawn(move || {
                    // Each writer walks all names from a different start, so every
                    // name is interned by every writer, often at the same moment.
                    (0..NAMES)
                        .map(|step| {
                            let index = (step + writer * NAMES / WRITERS) % NAMES;
                            (index, interner.intern(&names[index], None).expect("below the limit"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let handed_out = writers.into_iter().map(|writer| writer.join().unwrap()).collect();
        done.store(true, Ordering::Release);
        for reader in readers {
            reader.join().unwrap();
        }
        handed_out
    });
    assert_eq!(interner.len(), NAMES);
    let mut id_of = vec![None; NAMES];
    for (index, id) in handed_out.into_iter().flatten() {
        assert_eq!(*id_of[index].get_or_insert(id), id, "name {index} got one id");
    }
    let ids: HashSet<SkuId> = id_of.iter().map(|id| id.expect("every name interned")).collect();
    assert_eq!(ids.len(), NAMES, "different names, different ids");
    assert!(ids.iter().all(|id| id.index() < NAMES), "ids are dense");
    for (index, id) in id_of.iter().enumerate() {
        assert_eq!(&*interner.name(id.unwrap()), names[index].as_str());
    }
}

/// Records what a reader could see of a new name at the moment it is journaled.
#[derive(Default)]
struct Watcher {
    interner: std::sync::OnceLock<Arc<SkuInterner>>,
    seen: Mutex<Vec<(u32, usize, Option<SkuId>)>>,
}

impl Journal for Watcher {
    fn record(&self, entry: &JournalEntry<'_>) {
        let JournalEntry::SkuInterned { sku, name } = entry else { panic!("only SKU names are journaled here") };
        let interner = self.interner.get().expect("set before interning");
        self.seen.lock().push((sku.0, interner.len(), interner.get(name)));
    }
}

#[test]
fn a_new_id_is_journaled_before_it_is_counted_or_found() {
    let interner = Arc::new(SkuInterner::default());
    let watcher = Watcher::default();
    assert!(watcher.interner.set(interner.clone()).is_ok());
    for index in 0..100 {
        interner.intern(&name(index), Some(&watcher)).unwrap();
        interner.intern(&name(index), Some(&watcher)).unwrap();
    }
    let seen = watcher.seen.lock();
    assert_eq!(seen.len(), 100, "journaled once per new name");
    for (index, (sku, len, found)) in seen.iter().enumerate() {
        assert_eq!((*sku as usize, *len, *found), (index, index, None));
    }
}
