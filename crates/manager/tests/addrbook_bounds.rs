//! The address book stays bounded and consistent whatever is poured into it.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use btcclient_manager::addrbook::{
    AddrBook, BookAddr, NetAddr, Position, Source, BUCKET_SIZE, NEW_BUCKETS_PER_SOURCE_GROUP,
    NEW_CAPACITY, TRIED_CAPACITY,
};
use btcclient_manager::bitcoin::p2p::address::AddrV2Message;
use btcclient_manager::bitcoin::p2p::ServiceFlags;
use btcclient_manager::Network;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NOW: u64 = 1_700_000_000;

fn random_public_v4(rng: &mut StdRng) -> Ipv4Addr {
    // 11.0.0.0 to 99.255.255.255: public, and many /16 groups.
    Ipv4Addr::new(rng.gen_range(11..100), rng.gen(), rng.gen(), rng.gen())
}

fn batch(rng: &mut StdRng, n: usize) -> Vec<AddrV2Message> {
    (0..n)
        .map(|_| {
            let ip = random_public_v4(rng);
            AddrV2Message {
                time: rng.gen_range(NOW as u32 - 40 * 86_400..NOW as u32 + 3_600),
                services: ServiceFlags::NETWORK,
                addr: NetAddr::Ipv4(ip).to_addrv2(),
                port: rng.gen_range(1..4),
            }
        })
        .collect()
}

/// New buckets holding entries from each source group.
fn new_buckets_per_source_group(book: &AddrBook) -> HashMap<Vec<u8>, HashSet<usize>> {
    let mut out: HashMap<Vec<u8>, HashSet<usize>> = HashMap::new();
    for e in book.entries() {
        if let Some(Position::New { bucket, .. }) = book.position(&e.addr) {
            out.entry(e.source.group()).or_default().insert(bucket);
        }
    }
    out
}

fn assert_bounded(book: &AddrBook) {
    assert!(book.len_new() <= NEW_CAPACITY, "{} new", book.len_new());
    assert!(
        book.len_tried() <= TRIED_CAPACITY,
        "{} tried",
        book.len_tried()
    );
    assert_eq!(book.entries().count(), book.len());
    if let Err(why) = book.check() {
        panic!("inconsistent book: {why}");
    }
    for (group, buckets) in new_buckets_per_source_group(book) {
        assert!(
            buckets.len() as u64 <= NEW_BUCKETS_PER_SOURCE_GROUP,
            "source group {group:?} in {} new buckets",
            buckets.len()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Many sources flood random addresses, connections succeed and fail at random: the
    /// tables never exceed their capacity, one source group never reaches more than 64 new
    /// buckets, every entry is in exactly one place and the indexes agree.
    #[test]
    fn flood_from_many_sources_stays_bounded_and_consistent(
        seed in any::<u64>(),
        sources in 1usize..300,
        rounds in 1usize..6,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut book = AddrBook::with_key(Network::Mainnet, rng.gen());
        let sources: Vec<Source> = (0..sources)
            .map(|_| Source::Peer(NetAddr::Ipv4(random_public_v4(&mut rng))))
            .collect();
        let mut now = NOW;
        for _ in 0..rounds {
            for _ in 0..10 {
                let source = sources[rng.gen_range(0..sources.len())];
                let addrs = batch(&mut rng, 1000);
                let added = book.add(&addrs, &source, now);
                prop_assert!(added <= addrs.len());
            }
            // Connect to some, fail some.
            for _ in 0..200 {
                let Some(e) = book.select(now, &mut rng, |_| true) else { break };
                if rng.gen_bool(0.5) {
                    book.good(&e.addr, now);
                } else {
                    book.attempt(&e.addr, true, now);
                }
            }
            now += rng.gen_range(0..10 * 86_400);
            assert_bounded(&book);
        }
    }
}

/// 300,000 addresses from 2,000 sources: both tables fill up to, never past, capacity.
#[test]
fn a_flood_fills_the_tables_to_capacity_and_no_further() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut book = AddrBook::with_key(Network::Mainnet, [1; 32]);
    let sources: Vec<Source> = (0..2000)
        .map(|_| Source::Peer(NetAddr::Ipv4(random_public_v4(&mut rng))))
        .collect();
    for round in 0..300 {
        let source = sources[round % sources.len()];
        book.add(&batch(&mut rng, 1000), &source, NOW);
    }
    let heard: Vec<BookAddr> = book.entries().map(|e| e.addr).collect();
    for a in heard.iter().step_by(2) {
        book.good(a, NOW + 3600);
    }
    assert!(
        book.len_new() > NEW_CAPACITY / 2,
        "{} new of {NEW_CAPACITY}",
        book.len_new()
    );
    assert!(
        book.len_tried() > TRIED_CAPACITY / 2,
        "{} tried",
        book.len_tried()
    );
    assert_bounded(&book);
}

/// One source sending 50,000 addresses of all groups reaches at most 64 of the 1,024 new
/// buckets, so at most 64 × 64 entries.
#[test]
fn one_source_fills_at_most_64_new_buckets() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut book = AddrBook::with_key(Network::Mainnet, [2; 32]);
    let source = Source::Peer(NetAddr::Ipv4(Ipv4Addr::new(50, 1, 2, 3)));
    for _ in 0..50 {
        book.add(&batch(&mut rng, 1000), &source, NOW);
    }
    let buckets = new_buckets_per_source_group(&book);
    assert_eq!(buckets.len(), 1);
    let used = buckets.values().map(HashSet::len).sum::<usize>();
    assert!(used <= 64, "{used} buckets");
    assert!(book.len_new() <= 64 * BUCKET_SIZE);
    // Another source still gets in.
    let other = Source::Peer(NetAddr::Ipv4(Ipv4Addr::new(60, 1, 2, 3)));
    assert!(book.add(&batch(&mut rng, 100), &other, NOW) > 50);
    assert_bounded(&book);
}

/// One /16 announced by many sources reaches at most 64 new buckets per source group, and
/// its addresses fill at most 8 tried buckets.
#[test]
fn one_group_fills_at_most_8_tried_buckets() {
    let mut rng = StdRng::seed_from_u64(9);
    let mut book = AddrBook::with_key(Network::Mainnet, [3; 32]);
    let addrs: Vec<BookAddr> = (0..5000)
        .map(|_| {
            let ip = Ipv4Addr::new(44, 44, rng.gen(), rng.gen());
            BookAddr::new(NetAddr::Ipv4(ip), 8333)
        })
        .collect();
    for chunk in addrs.chunks(100) {
        let source = Source::Peer(NetAddr::Ipv4(random_public_v4(&mut rng)));
        let msgs: Vec<AddrV2Message> = chunk
            .iter()
            .map(|a| AddrV2Message {
                time: NOW as u32,
                services: ServiceFlags::NETWORK,
                addr: a.net.to_addrv2(),
                port: a.port,
            })
            .collect();
        book.add(&msgs, &source, NOW);
    }
    for a in &addrs {
        book.good(a, NOW);
    }
    let tried_buckets: HashSet<usize> = book
        .entries()
        .filter_map(|e| match book.position(&e.addr) {
            Some(Position::Tried { bucket, .. }) => Some(bucket),
            _ => None,
        })
        .collect();
    assert!(
        tried_buckets.len() <= 8,
        "{} tried buckets",
        tried_buckets.len()
    );
    assert!(book.len_tried() <= 8 * BUCKET_SIZE);
    assert_bounded(&book);
}
