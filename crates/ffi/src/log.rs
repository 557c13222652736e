//! Logging to a C callback: a `tracing` layer that formats each event (with the fields of
//! the spans it happened in, such as the peer's id and address) and hands it to the callback
//! set with `btcclient_set_logger`.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

use crate::error::FfiError;
use crate::ffi::boundary;
use crate::status::btcclient_status;
use crate::types::c_string;

/// A log level (`btcclient_set_logger`'s filter and the callback's `level`).
#[repr(u32)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum btcclient_log_level {
    /// Nothing (as a filter).
    Off = 0,
    /// Errors.
    Error = 1,
    /// Warnings: peers misbehaving, stops that timed out.
    Warn = 2,
    /// Lifecycle: client started/stopped, peers connected, discovered.
    Info = 3,
    /// Per-peer detail: dial attempts, handshakes, disconnect reasons.
    Debug = 4,
    /// Per-message detail.
    Trace = 5,
}

fn level_number(level: &Level) -> u32 {
    match *level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// Receives one log record: `level` is a `btcclient_log_level` value, `target` the module
/// that logged (e.g. `"btcclient_manager::connection"`), `message` the formatted record
/// (span fields such as `peer{id=1 addr=1.2.3.4:8333}:` first).
///
/// `target` and `message` are borrowed: valid only until the callback returns. Called from
/// any of the library's threads, possibly concurrently: it must be thread-safe. It must not
/// call into the library: the library may be holding its own locks while it logs, so every
/// function that returns a `btcclient_status` returns `BTCCLIENT_STATUS_CALLED_FROM_CALLBACK`
/// there, at once (functions that return plain values, such as `btcclient_status_str`, work).
pub type btcclient_log_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: u32,
        target: *const c_char,
        message: *const c_char,
    ),
>;

struct Logger {
    callback: unsafe extern "C" fn(*mut c_void, u32, *const c_char, *const c_char),
    user_data: *mut c_void,
}

// SAFETY: the program hands `user_data` to the library for use from its threads (the
// callback's contract says it must be thread-safe); Rust never dereferences it.
unsafe impl Send for Logger {}
// SAFETY: as above.
unsafe impl Sync for Logger {}

static LOGGER: RwLock<Option<Logger>> = RwLock::new(None);
static LEVEL: AtomicU32 = AtomicU32::new(0);
static INSTALLED: OnceLock<bool> = OnceLock::new();

thread_local! {
    static IN_LOG: Cell<bool> = const { Cell::new(false) };
}

/// The fields of a span, formatted, kept in the span's extensions.
struct SpanFields(String);

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.rest, " {}={:?}", field.name(), value);
        }
    }
}

struct CallbackLayer;

impl<S> Layer<S> for CallbackLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level can change at any time: decide per call (an atomic load).
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        level_number(metadata.level()) <= LEVEL.load(Ordering::Relaxed)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        use tracing::level_filters::LevelFilter;
        Some(match LEVEL.load(Ordering::Relaxed) {
            0 => LevelFilter::OFF,
            1 => LevelFilter::ERROR,
            2 => LevelFilter::WARN,
            3 => LevelFilter::INFO,
            4 => LevelFilter::DEBUG,
            _ => LevelFilter::TRACE,
        })
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            let text = format!("{}{}", fields.message, fields.rest);
            span.extensions_mut()
                .insert(SpanFields(text.trim_start().to_owned()));
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(existing) = ext.get_mut::<SpanFields>() {
                existing.0.push_str(&fields.rest);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if IN_LOG.with(|c| c.get()) {
            return;
        }
        let guard = LOGGER.read().unwrap_or_else(|p| p.into_inner());
        let Some(logger) = guard.as_ref() else {
            return;
        };
        let mut text = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                let ext = span.extensions();
                let fields = ext.get::<SpanFields>().map_or("", |f| f.0.as_str());
                let _ = write!(text, "{}{{{}}}: ", span.name(), fields);
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        text.push_str(&fields.message);
        text.push_str(&fields.rest);
        let message = c_string(&text);
        let target = c_string(event.metadata().target());
        IN_LOG.with(|c| c.set(true));
        // SAFETY: the callback and user data the program registered; both strings live until
        // after the call; the read lock keeps `btcclient_set_logger` from replacing them
        // meanwhile.
        unsafe {
            (logger.callback)(
                logger.user_data,
                level_number(event.metadata().level()),
                target.as_ptr(),
                message.as_ptr(),
            )
        };
        IN_LOG.with(|c| c.set(false));
    }
}

/// Whether this thread is running the program's log callback. The library may log while it
/// holds its own locks, so every fallible function refuses to run inside the log callback
/// (`BTCCLIENT_STATUS_CALLED_FROM_CALLBACK`, from the panic boundary) instead of waiting on a
/// lock its own caller holds.
pub(crate) fn in_log_callback() -> bool {
    IN_LOG.with(|c| c.get())
}

fn set_logger(
    callback: btcclient_log_cb,
    level: u32,
    user_data: *mut c_void,
) -> Result<(), FfiError> {
    if level > btcclient_log_level::Trace as u32 {
        return Err(FfiError::arg(format!("log level {level} is out of range")));
    }
    let installed = *INSTALLED.get_or_init(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(CallbackLayer))
            .is_ok()
    });
    if !installed {
        return Err(FfiError::new(
            btcclient_status::Internal,
            "another tracing subscriber is already installed in this process",
        ));
    }
    {
        let mut logger = LOGGER.write().unwrap_or_else(|p| p.into_inner());
        *logger = callback.map(|callback| Logger {
            callback,
            user_data,
        });
        let level = if logger.is_some() { level } else { 0 };
        LEVEL.store(level, Ordering::Relaxed);
    }
    tracing::callsite::rebuild_interest_cache();
    Ok(())
}

/// Sends the library's log records at `level` (a `btcclient_log_level` value) and more
/// severe to `callback`, with `user_data` as its first argument; a NULL `callback` turns
/// logging off. Applies to every client in the process. When it returns, the previous
/// callback is no longer running and will not be called again (its `user_data` may be
/// released).
///
/// Errors: `BTCCLIENT_STATUS_INVALID_ARGUMENT` for a level out of range,
/// `BTCCLIENT_STATUS_CALLED_FROM_CALLBACK` from inside the log callback,
/// `BTCCLIENT_STATUS_INTERNAL` when the process already has another `tracing` subscriber
/// (a Rust host program's).
#[no_mangle]
pub unsafe extern "C" fn btcclient_set_logger(
    callback: btcclient_log_cb,
    level: u32,
    user_data: *mut c_void,
) -> btcclient_status {
    boundary(std::ptr::null_mut(), || {
        set_logger(callback, level, user_data)
    })
}
