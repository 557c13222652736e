use super::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

const NOW: u64 = 1_700_000_000;

fn book() -> AddrBook {
    AddrBook::with_key(Network::Mainnet, [7; 32])
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> NetAddr {
    NetAddr::Ipv4(Ipv4Addr::new(a, b, c, d))
}

fn msg(net: NetAddr, port: u16, time: u32) -> AddrV2Message {
    AddrV2Message {
        time,
        services: ServiceFlags::NETWORK,
        addr: net.to_addrv2(),
        port,
    }
}

#[test]
fn add_counts_new_addresses_and_skips_inadmissible_ones() {
    let mut b = book();
    let src = Source::Peer(v4(9, 9, 9, 9));
    let onion = NetAddr::TorV3([3; 32]);
    let batch = [
        msg(v4(8, 8, 8, 8), 8333, NOW as u32),
        msg(v4(8, 8, 8, 8), 8333, NOW as u32),  // duplicate
        msg(v4(8, 8, 8, 8), 8334, NOW as u32),  // other port: another entry
        msg(v4(10, 0, 0, 1), 8333, NOW as u32), // private
        msg(v4(1, 2, 3, 4), 0, NOW as u32),     // port 0
        msg(onion, 8333, NOW as u32),           // onion not admitted by default
    ];
    assert_eq!(b.add(&batch, &src, NOW), 2);
    assert_eq!((b.len_new(), b.len_tried()), (2, 0));
    b.set_admission(Admission {
        onion: true,
        local: true,
    });
    assert_eq!(b.add(&batch, &src, NOW), 2);
    assert!(b.get(&BookAddr::new(onion, 8333)).is_some());
    b.check().expect("consistent");
}

#[test]
fn times_are_clamped_and_relays_penalised() {
    let mut b = book();
    let peer = v4(9, 9, 9, 9);
    let src = Source::Peer(peer);
    let now32 = NOW as u32;
    b.add(
        &[
            msg(v4(8, 8, 8, 1), 1, now32 + 3600), // future: five days ago
            msg(v4(8, 8, 8, 2), 1, 5),            // before 1973: five days ago
            msg(v4(8, 8, 8, 3), 1, now32),        // relayed: two hours off
            msg(peer, 1, now32),                  // the peer itself: no penalty
        ],
        &src,
        NOW,
    );
    let seen = |n: u8| {
        b.get(&BookAddr::new(v4(8, 8, 8, n), 1))
            .expect("held")
            .last_seen
    };
    let five_days = 5 * 86_400;
    assert_eq!(seen(1), now32 - five_days - 7200);
    assert_eq!(seen(2), now32 - five_days - 7200);
    assert_eq!(seen(3), now32 - 7200);
    assert_eq!(
        b.get(&BookAddr::new(peer, 1)).expect("held").last_seen,
        now32
    );
}

#[test]
fn good_moves_to_tried_and_attempts_count() {
    let mut b = book();
    let a = BookAddr::new(v4(8, 8, 8, 8), 8333);
    b.add(&[msg(a.net, a.port, NOW as u32)], &Source::Local, NOW);
    assert!(b.attempt(&a, true, NOW));
    assert!(b.attempt(&a, true, NOW + 1)); // no good() since: not counted again
    assert_eq!(b.get(&a).expect("held").attempts, 1);
    assert!(b.good(&a, NOW + 2));
    let e = b.get(&a).expect("held");
    assert!(e.in_tried);
    assert_eq!(
        (e.attempts, e.last_success, e.last_try),
        (0, NOW + 2, NOW + 2)
    );
    assert_eq!((b.len_new(), b.len_tried()), (0, 1));
    assert!(matches!(b.position(&a), Some(Position::Tried { .. })));
    assert!(!b.good(&a, NOW + 3), "already tried");
    assert!(b.attempt(&a, true, NOW + 4));
    assert_eq!(b.get(&a).expect("held").attempts, 1);
    b.check().expect("consistent");
}

#[test]
fn tried_collision_sends_the_occupant_back_to_new() {
    let mut b = book();
    // Find two addresses of one /16 that hash to the same tried slot.
    let mut by_slot: HashMap<(usize, usize), BookAddr> = HashMap::new();
    let mut pair = None;
    'outer: for c in 0..=255u8 {
        for d in 1..=255u8 {
            let a = BookAddr::new(v4(8, 8, c, d), 8333);
            let bucket = b.tried_bucket(&a);
            let pos = b.slot_pos(false, bucket, &a);
            if let Some(first) = by_slot.insert((bucket, pos), a) {
                pair = Some((first, a));
                break 'outer;
            }
        }
    }
    let (first, second) = pair.expect("a tried collision among 65,000 addresses");
    for a in [first, second] {
        // Distinct sources so that both fit in new.
        let src = Source::Peer(NetAddr::from_ip(IpAddr::V4(Ipv4Addr::from(
            u32::from_be_bytes([20, a.net.bytes()[2], a.net.bytes()[3], 1]),
        ))));
        assert_eq!(b.add(&[msg(a.net, a.port, NOW as u32)], &src, NOW), 1);
    }
    assert!(b.good(&first, NOW));
    assert!(b.good(&second, NOW + 1));
    assert!(b.get(&second).expect("held").in_tried);
    let old = b.get(&first).expect("held");
    assert!(!old.in_tried);
    assert_eq!(old.last_success, NOW, "keeps what it knew");
    assert_eq!((b.len_new(), b.len_tried()), (1, 1));
    b.check().expect("consistent");
}

#[test]
fn terrible_occupants_are_evicted_good_ones_stay() {
    let mut b = book();
    let src = Source::Peer(v4(9, 9, 9, 9));
    // Two addresses of one group from one source landing in one new slot.
    let mut by_slot: HashMap<(usize, usize), BookAddr> = HashMap::new();
    let mut pair = None;
    for d in 0..=65535u16 {
        let [c, d] = d.to_be_bytes();
        let a = BookAddr::new(v4(8, 8, c, d), 8333);
        let bucket = b.new_bucket(&a, &src);
        let pos = b.slot_pos(true, bucket, &a);
        if let Some(first) = by_slot.insert((bucket, pos), a) {
            pair = Some((first, a));
            break;
        }
    }
    let (first, second) = pair.expect("a new-slot collision");
    assert_eq!(
        b.add(&[msg(first.net, first.port, NOW as u32)], &src, NOW),
        1
    );
    assert_eq!(
        b.add(&[msg(second.net, second.port, NOW as u32)], &src, NOW),
        0,
        "a good occupant keeps its slot"
    );
    // Thirty-one days later the occupant is terrible.
    let later = NOW + 31 * 86_400;
    assert!(b.get(&first).expect("held").is_terrible(later));
    assert_eq!(
        b.add(&[msg(second.net, second.port, later as u32)], &src, later),
        1
    );
    assert!(b.get(&first).is_none());
    assert_eq!(b.len_new(), 1);
    b.check().expect("consistent");
}

#[test]
fn is_terrible_follows_core() {
    let e = AddrEntry {
        addr: BookAddr::new(v4(8, 8, 8, 8), 1),
        services: ServiceFlags::NONE,
        source: Source::Local,
        last_seen: NOW as u32,
        last_try: 0,
        last_success: 0,
        attempts: 0,
        in_tried: false,
    };
    assert!(!e.is_terrible(NOW));
    let future = AddrEntry {
        last_seen: NOW as u32 + 601,
        ..e.clone()
    };
    assert!(future.is_terrible(NOW));
    let tried_just_now = AddrEntry {
        last_try: NOW - 30,
        ..future.clone()
    };
    assert!(!tried_just_now.is_terrible(NOW));
    assert!(e.is_terrible(NOW + 30 * 86_400 + 1));
    let failing = AddrEntry {
        attempts: 3,
        ..e.clone()
    };
    assert!(failing.is_terrible(NOW));
    let stale = AddrEntry {
        attempts: 10,
        last_success: NOW - 8 * 86_400,
        ..e.clone()
    };
    assert!(stale.is_terrible(NOW));
    let recent = AddrEntry {
        attempts: 10,
        last_success: NOW - 6 * 86_400,
        ..e.clone()
    };
    assert!(!recent.is_terrible(NOW));
}

#[test]
fn chance_follows_core() {
    let e = AddrEntry {
        addr: BookAddr::new(v4(8, 8, 8, 8), 1),
        services: ServiceFlags::NONE,
        source: Source::Local,
        last_seen: NOW as u32,
        last_try: NOW - 60,
        last_success: 0,
        attempts: 2,
        in_tried: false,
    };
    assert!((e.chance(NOW) - 0.01 * 0.66 * 0.66).abs() < 1e-12);
    let many = AddrEntry {
        last_try: NOW - 3600,
        attempts: 20,
        ..e
    };
    assert!((many.chance(NOW) - 0.66f64.powi(8)).abs() < 1e-12);
}

#[test]
fn select_respects_the_filter_and_prefers_untried_recently() {
    let mut b = book();
    let mut rng = StdRng::seed_from_u64(1);
    assert!(b.select(NOW, &mut rng, |_| true).is_none());
    let addrs: Vec<BookAddr> = (1..=50u8)
        .map(|i| BookAddr::new(v4(8, i, 1, 1), 8333))
        .collect();
    for a in &addrs {
        b.add(&[msg(a.net, a.port, NOW as u32)], &Source::Local, NOW);
    }
    assert_eq!(b.len_new(), 50);
    for _ in 0..100 {
        let e = b
            .select(NOW, &mut rng, |e| e.addr != addrs[0])
            .expect("selected");
        assert_ne!(e.addr, addrs[0]);
    }
    // Only one entry passes: found, though the table is sparse.
    let only = b
        .select(NOW, &mut rng, |e| e.addr == addrs[7])
        .expect("selected");
    assert_eq!(only.addr, addrs[7]);
    assert!(b.select(NOW, &mut rng, |_| false).is_none());
    // Addresses tried a minute ago are chosen far less often: the one not tried is picked
    // about a third of the time (uniform choice: one in fifty).
    for a in &addrs[1..] {
        b.attempt(a, false, NOW - 60);
    }
    let picks = (0..200)
        .filter(|_| b.select(NOW, &mut rng, |_| true).expect("selected").addr == addrs[0])
        .count();
    assert!(picks > 40, "{picks} of 200");
}

#[test]
fn select_draws_from_both_tables() {
    let mut b = book();
    let mut rng = StdRng::seed_from_u64(2);
    let a = BookAddr::new(v4(8, 8, 8, 8), 8333);
    let c = BookAddr::new(v4(9, 9, 9, 9), 8333);
    b.add(
        &[
            msg(a.net, a.port, NOW as u32),
            msg(c.net, c.port, NOW as u32),
        ],
        &Source::Local,
        NOW,
    );
    b.good(&a, NOW - 3600);
    let tried = (0..400)
        .filter(|_| {
            b.select(NOW, &mut rng, |_| true)
                .expect("selected")
                .in_tried
        })
        .count();
    assert!((140..260).contains(&tried), "{tried} of 400 from tried");
}

#[test]
fn stats_count_per_network_and_group() {
    let mut b = book();
    b.set_admission(Admission {
        onion: true,
        local: false,
    });
    b.add(
        &[
            msg(v4(8, 8, 1, 1), 1, NOW as u32),
            msg(v4(8, 8, 2, 2), 1, NOW as u32),
            msg(
                NetAddr::Ipv6("2a01:4f8::1".parse().expect("ip")),
                1,
                NOW as u32,
            ),
            msg(NetAddr::TorV3([0xab; 32]), 1, NOW as u32),
        ],
        &Source::seed("seed.example.org"),
        NOW,
    );
    b.good(&BookAddr::new(v4(8, 8, 1, 1), 1), NOW);
    let s = b.stats();
    assert_eq!((s.new, s.tried), (3, 1));
    assert_eq!(s.networks["ipv4"], Counts { new: 1, tried: 1 });
    assert_eq!(s.networks["ipv6"], Counts { new: 1, tried: 0 });
    assert_eq!(s.networks["onion"], Counts { new: 1, tried: 0 });
    assert_eq!(s.groups[&vec![4, 8, 8]], Counts { new: 1, tried: 1 });
    assert_eq!(s.groups.len(), 3);
}

/// Nodes of a test network on one machine (127.0.0.1, one port each), told by one source,
/// are all kept and all reach the tried table: local addresses are bucketed each on its own,
/// where Core's single local group would put them in one bucket of 64 slots (10 of them
/// collide there more often than not).
#[test]
fn local_nodes_on_one_machine_do_not_push_each_other_out() {
    for seed in 0..20u8 {
        let mut b = AddrBook::with_key(Network::Regtest, [seed; 32]);
        b.set_admission(Admission {
            onion: false,
            local: true,
        });
        let src = Source::Peer(v4(127, 0, 0, 1));
        let nodes: Vec<AddrV2Message> = (0..10)
            .map(|i| msg(v4(127, 0, 0, 1), 18444 + i, NOW as u32))
            .collect();
        assert_eq!(b.add(&nodes, &src, NOW), 10, "key {seed}");
        for n in &nodes {
            let addr = BookAddr::new(v4(127, 0, 0, 1), n.port);
            b.good(&addr, NOW);
        }
        assert_eq!((b.len_new(), b.len_tried()), (0, 10), "key {seed}");
        b.check().expect("consistent");
    }
}
