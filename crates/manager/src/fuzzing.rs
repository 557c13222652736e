//! Drives one peer connection, handshake and session, against bytes chosen by a fuzzer.
//! Not part of the API: compiled for tests and with the `fuzzing` feature.

use std::net::SocketAddr;
use std::time::Duration;

use bitcoin::p2p::address::Address;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::ServiceFlags;
use btcclient_wire::{Command, Frame, FrameReader, FrameWriter};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::address::PeerAddr;
use crate::client::Shared;
use crate::connection::{handshake, session, Events};
use crate::dispatch::Deliverer;
use crate::{Config, Listeners, ManagedPeer, Network};

const COMMANDS: [&str; 24] = [
    "version",
    "verack",
    "ping",
    "pong",
    "addr",
    "addrv2",
    "inv",
    "getdata",
    "notfound",
    "headers",
    "getheaders",
    "block",
    "tx",
    "reject",
    "sendaddrv2",
    "wtxidrelay",
    "feefilter",
    "sendcmpct",
    "getaddr",
    "mempool",
    "merkleblock",
    "cmpctblock",
    "alert",
    "xyzzy",
];

/// Splits fuzz input into messages: a command selector byte, a 16-bit length, the payload.
fn messages(mut input: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    while input.len() >= 3 {
        let command = COMMANDS[input[0] as usize % COMMANDS.len()];
        let len = (u16::from_le_bytes([input[1], input[2]]) as usize).min(input.len() - 3);
        let payload = input[3..3 + len].to_vec();
        input = &input[3 + len..];
        if let Ok(command) = Command::new(command) {
            out.push(Frame::new(command, payload));
        }
    }
    out
}

fn version(nonce: u64) -> NetworkMessage {
    let addr: SocketAddr = ([127, 0, 0, 1], 8333).into();
    let mut v = VersionMessage::new(
        ServiceFlags::NETWORK,
        0,
        Address::new(&addr, ServiceFlags::NONE),
        Address::new(&addr, ServiceFlags::NETWORK),
        nonce,
        "/fuzz/".into(),
        100,
    );
    v.version = crate::PROTOCOL_VERSION;
    NetworkMessage::Version(v)
}

/// Runs a client-side handshake and session over an in-memory pipe. The remote side sends a
/// proper version/verack first when the first input byte is even, then the messages encoded
/// in the rest of the input, then closes. Every listener is set, so every decoding path runs.
/// Panics (and so makes the fuzzer report) only on a bug.
pub fn peer_session(input: &[u8]) {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return,
    };
    let frames = messages(rest);
    rt.block_on(async move {
        let listeners = Listeners::new()
            .on_headers(|_, _| {})
            .on_inv(|_, _| {})
            .on_block(|_, _| {})
            .on_raw_block(|_, _| {})
            .on_tx(|_, _| {})
            .on_addr(|_, _| {})
            .on_peer_connected(|_| {})
            .on_peer_disconnected(|_, _| {})
            .on_message(|_, _| {});
        let config = Config {
            network: Network::Regtest,
            allow_local_addresses: true,
            handshake_timeout: Duration::from_secs(2),
            listeners,
            ..Config::default()
        };
        let shared = Shared::detached(config.clone(), tokio::runtime::Handle::current());
        let wire = shared.wire;
        let addr: SocketAddr = ([127, 0, 0, 1], 8333).into();
        let peer = ManagedPeer::new(
            1,
            PeerAddr::from_socket(addr),
            false,
            None,
            CancellationToken::new(),
            &config,
            0,
            crate::client::WeakClient::default(),
        );
        let (client_io, remote_io) = tokio::io::duplex(1 << 16);
        let (cr, cw) = tokio::io::split(client_io);
        let (rr, rw) = tokio::io::split(remote_io);

        // What the client sends is read and dropped, so that it never blocks on a full pipe.
        let drain = tokio::spawn(async move {
            let mut reader = FrameReader::new(rr, &wire);
            while let Ok(Some(_)) = reader.read_frame().await {}
        });
        let remote = async move {
            let mut w = FrameWriter::new(rw, &wire);
            if mode % 2 == 0 {
                let _ = w.write_message(&version(u64::from(mode))).await;
                let _ = w.write_message(&NetworkMessage::Verack).await;
            }
            for f in &frames {
                if w.write_frame(f).await.is_err() {
                    break;
                }
            }
            let _ = w.close().await;
        };
        let deliverer = Deliverer {
            listeners: config.listeners.clone(),
            client_id: shared.id,
            gate: Default::default(),
        };
        let client = async {
            let (tx, mut rx) = mpsc::channel(16);
            let consume = tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    deliverer.deliver(event);
                }
            });
            let reader = FrameReader::new(cr, &wire);
            let writer = FrameWriter::new(cw, &wire);
            if let Ok(conn) = handshake(&shared, &peer, Some(addr), reader, writer).await {
                let events = Events::new(
                    tx.clone(),
                    CancellationToken::new(),
                    &shared.config.listeners,
                );
                let _reason = session(&shared, &peer, conn, &events).await;
            }
            drop(tx);
            let _ = consume.await;
        };
        let both = async { tokio::join!(client, remote) };
        if tokio::time::timeout(Duration::from_secs(10), both)
            .await
            .is_err()
        {
            panic!("peer session did not end after the remote closed");
        }
        drain.abort();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(selector: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![selector];
        v.extend_from_slice(&(payload.len() as u16).to_le_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn survives_hostile_sequences() {
        // Empty, handshake only, garbage before the handshake, a second version, a bad ping,
        // an addr announcing more entries than allowed, and raw junk.
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            [vec![1], msg(23, b"junk"), msg(0, &[0xff; 10])].concat(),
            [vec![0], msg(0, &[1, 2, 3])].concat(),
            [vec![0], msg(2, &[1, 2, 3])].concat(),
            [vec![0], msg(4, &[0xfd, 0xe9, 0x03])].concat(),
            [vec![0], msg(9, &[0xff; 40]), msg(11, &[0; 81])].concat(),
            [
                vec![2],
                msg(2, &7u64.to_le_bytes()),
                msg(5, &[0]),
                msg(6, &[0]),
            ]
            .concat(),
        ];
        for case in cases {
            peer_session(&case);
        }
    }
}
