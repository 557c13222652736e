//! A bare P2P client over `FrameReader`/`FrameWriter`, for talking to simnet nodes.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bitcoin::p2p::address::Address;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::ServiceFlags;
use btcclient_wire::{Frame, FrameReader, FrameWriter, WireConfig, WireError};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// Every read in the tests gives up after this long.
pub const WAIT: Duration = Duration::from_secs(5);

pub fn config() -> WireConfig {
    WireConfig::new(bitcoin::Network::Regtest)
}

pub fn version(services: ServiceFlags) -> VersionMessage {
    let any = Address::new(&SocketAddr::from(([0, 0, 0, 0], 0)), ServiceFlags::NONE);
    let mut v = VersionMessage::new(services, 0, any.clone(), any, 7, "/simnet-test/".into(), 0);
    v.version = 70016;
    v.relay = true;
    v
}

pub struct Client {
    pub reader: FrameReader<OwnedReadHalf>,
    pub writer: FrameWriter<OwnedWriteHalf>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        let (rd, wr) = stream.into_split();
        Client {
            reader: FrameReader::new(rd, &config()),
            writer: FrameWriter::new(wr, &config()),
        }
    }

    pub async fn send(&mut self, msg: NetworkMessage) {
        self.writer.write_message(&msg).await.expect("send");
    }

    /// The next frame, or the reader's error / end of stream.
    pub async fn try_recv(&mut self) -> Result<Option<Frame>, WireError> {
        tokio::time::timeout(WAIT, self.reader.read_frame())
            .await
            .expect("a frame (or the end) in time")
    }

    /// The next frame, or None if nothing arrives within `wait`.
    pub async fn recv_within(&mut self, wait: Duration) -> Option<Frame> {
        match tokio::time::timeout(wait, self.reader.read_frame()).await {
            Ok(result) => result.expect("no error").map(Some).expect("not closed"),
            Err(_) => None,
        }
    }

    pub async fn recv(&mut self) -> Frame {
        self.try_recv()
            .await
            .expect("no error")
            .expect("not closed")
    }

    pub async fn recv_msg(&mut self) -> NetworkMessage {
        self.recv().await.decode().expect("decodes")
    }

    /// Reads until a frame with this command, answering pings and skipping the rest.
    pub async fn recv_cmd(&mut self, command: &str) -> NetworkMessage {
        loop {
            let frame = self.recv().await;
            if frame.command == command {
                return frame.decode().expect("decodes");
            }
            if let Ok(NetworkMessage::Ping(n)) = frame.decode() {
                self.send(NetworkMessage::Pong(n)).await;
            }
        }
    }

    /// Sends version (then sendaddrv2 when asked), reads the node's messages up to its verack,
    /// sends verack. Returns the commands the node sent.
    pub async fn handshake_with(&mut self, v: VersionMessage, addrv2: bool) -> Vec<String> {
        self.send(NetworkMessage::Version(v)).await;
        if addrv2 {
            self.send(NetworkMessage::SendAddrV2).await;
        }
        let mut got = Vec::new();
        loop {
            let frame = self.recv().await;
            got.push(frame.command.to_string());
            if frame.command == "verack" {
                break;
            }
        }
        self.send(NetworkMessage::Verack).await;
        got
    }

    pub async fn handshake(&mut self, addrv2: bool) -> Vec<String> {
        self.handshake_with(version(ServiceFlags::NONE), addrv2)
            .await
    }

    /// Round trip: ping with a nonce and wait for its pong (answering the node's pings and
    /// returning everything else received meanwhile).
    pub async fn sync(&mut self) -> Vec<NetworkMessage> {
        let nonce = 0x5eed_u64;
        self.send(NetworkMessage::Ping(nonce)).await;
        let mut other = Vec::new();
        loop {
            match self.recv_msg().await {
                NetworkMessage::Pong(n) if n == nonce => return other,
                NetworkMessage::Ping(n) => self.send(NetworkMessage::Pong(n)).await,
                m => other.push(m),
            }
        }
    }

    /// Whether the node closed the connection (EOF or reset) within the wait, skipping frames.
    pub async fn closed_by_node(&mut self) -> bool {
        loop {
            match tokio::time::timeout(WAIT, self.reader.read_frame()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
            }
        }
    }
}
