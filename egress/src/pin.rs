//! Pins each connection to the addresses [`crate::network`] checked.
//!
//! Checking a name and then handing it to rtmp2sink is not enough: GIO would
//! resolve it again, and a name can answer differently the second time (DNS
//! rebinding: public at the check, 127.0.0.1 at the connect). Two ways out
//! were weighed:
//!
//! - Give rtmp2sink the checked IP literal as its host. Sound for rtmp://,
//!   but not for rtmps://: GIO's TLS client takes the server identity from
//!   the host it connects to (`GSocketClient` builds the
//!   `GTlsClientConnection` with the connectable as server identity, and
//!   rtmp2sink exposes neither the socket client nor the connection), so
//!   the ingest's certificate would be checked against the IP, fail, or be
//!   accepted only by turning the identity check off. SNI would be lost too,
//!   and the RTMP `tcUrl` would name an IP some ingests refuse.
//! - Replace the process's default `GResolver` (what `GNetworkAddress`, and
//!   so rtmp2sink, asks) with one that answers only from a table of pinned
//!   names. rtmp2sink keeps the real host name (TLS identity, SNI and tcUrl
//!   stay right) and can only reach the addresses the check saw.
//!
//! We do the second. Before each connection attempt the supervisor resolves
//! and checks the host, pins `host -> addresses` here, then builds the sink.
//! The resolver fails closed: a name not pinned does not resolve at all, so
//! nothing in the process can reach an unchecked name through GIO. IP
//! literals never reach a resolver (GLib parses them itself; they are
//! checked as they are), nor do `localhost` and `*.localhost` (GLib answers
//! them with loopback; the check refuses them unless allowlisted). The
//! resolver is process-wide: a pin is the latest checked answer for its name,
//! kept [`PIN_TTL`] (a connection resolves within seconds of its pin).
//!
//! GIO has no Rust binding for subclassing `GResolver`, so the type is
//! registered here through the C API: no instance or class data of its
//! own, every virtual method set, each answer a fresh list.

use gio_sys as gio;
use gstreamer::glib::{ffi as glib, gobject_ffi as gobject};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::net::IpAddr;
use std::sync::{LazyLock, Once};
use std::time::{Duration, Instant};

/// How long a pin stays usable.
const PIN_TTL: Duration = Duration::from_secs(600);

struct Pin {
    addresses: Vec<IpAddr>,
    at: Instant,
}

static PINS: LazyLock<Mutex<HashMap<String, Pin>>> = LazyLock::new(Default::default);

fn key(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Makes `host` resolve to `addresses` (and nothing else) for GIO.
pub(crate) fn pin(host: &str, addresses: &[IpAddr]) {
    install();
    let now = Instant::now();
    let mut pins = PINS.lock();
    pins.retain(|_, pin| now.duration_since(pin.at) < PIN_TTL);
    pins.insert(
        key(host),
        Pin {
            addresses: addresses.to_vec(),
            at: now,
        },
    );
}

/// The pinned addresses of `host` of the family `flags` asks for.
fn answer(host: &str, flags: gio::GResolverNameLookupFlags) -> Result<Vec<IpAddr>, String> {
    let pins = PINS.lock();
    let pin = pins
        .get(&key(host))
        .filter(|pin| pin.at.elapsed() < PIN_TTL)
        .ok_or_else(|| "the host was not cleared for this connection".to_owned())?;
    let addresses: Vec<IpAddr> = pin
        .addresses
        .iter()
        .copied()
        .filter(|ip| match flags {
            gio::G_RESOLVER_NAME_LOOKUP_FLAGS_IPV4_ONLY => ip.is_ipv4(),
            gio::G_RESOLVER_NAME_LOOKUP_FLAGS_IPV6_ONLY => ip.is_ipv6(),
            _ => true,
        })
        .collect();
    if addresses.is_empty() {
        return Err("no address of that family".to_owned());
    }
    Ok(addresses)
}

/// Sets the pinning resolver as GIO's default, once per process.
pub(crate) fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| unsafe {
        // SAFETY: plain GObject type registration and construction; the
        // type's class and instance sizes are its parent's (it adds no data).
        let parent = gio::g_resolver_get_type();
        let mut query: gobject::GTypeQuery = std::mem::zeroed();
        gobject::g_type_query(parent, &mut query);
        assert!(
            query.class_size as usize >= std::mem::size_of::<gio::GResolverClass>(),
            "GResolverClass is larger than the GLib we run on knows"
        );
        let kind = gobject::g_type_register_static_simple(
            parent,
            c"PodiumPinnedResolver".as_ptr(),
            query.class_size,
            Some(class_init),
            query.instance_size,
            None,
            0,
        );
        let resolver =
            gobject::g_object_new_with_properties(kind, 0, std::ptr::null_mut(), std::ptr::null());
        gio::g_resolver_set_default(resolver as *mut gio::GResolver);
        gobject::g_object_unref(resolver);
    });
}

unsafe extern "C" fn class_init(class: glib::gpointer, _: glib::gpointer) {
    // SAFETY: GLib calls this with our class struct, which starts with a
    // GResolverClass (registered with the parent's class size).
    let class = unsafe { &mut *(class as *mut gio::GResolverClass) };
    class.lookup_by_name = Some(lookup_by_name);
    class.lookup_by_name_async = Some(lookup_by_name_async);
    class.lookup_by_name_finish = Some(finish_list);
    class.lookup_by_name_with_flags = Some(lookup_by_name_with_flags);
    class.lookup_by_name_with_flags_async = Some(lookup_by_name_with_flags_async);
    class.lookup_by_name_with_flags_finish = Some(finish_list);
    class.lookup_by_address = Some(lookup_by_address);
    class.lookup_by_address_async = Some(lookup_by_address_async);
    class.lookup_by_address_finish = Some(finish_string);
    class.lookup_service = Some(lookup_service);
    class.lookup_service_async = Some(lookup_service_async);
    class.lookup_service_finish = Some(finish_list);
    class.lookup_records = Some(lookup_records);
    class.lookup_records_async = Some(lookup_records_async);
    class.lookup_records_finish = Some(finish_list);
}

fn not_found(message: &str) -> *mut glib::GError {
    let message = CString::new(message).unwrap_or_default();
    // SAFETY: a new GError from a valid C string (copied by GLib).
    unsafe {
        glib::g_error_new_literal(
            gio::g_resolver_error_quark(),
            gio::G_RESOLVER_ERROR_NOT_FOUND,
            message.as_ptr(),
        )
    }
}

/// The answer for `hostname` as GIO wants it: a list of new GInetAddresses.
unsafe fn addresses(
    hostname: *const c_char,
    flags: gio::GResolverNameLookupFlags,
) -> Result<*mut glib::GList, *mut glib::GError> {
    if hostname.is_null() {
        return Err(not_found("no host name"));
    }
    // SAFETY: GLib passes a NUL-terminated host name.
    let host = unsafe { CStr::from_ptr(hostname) }.to_string_lossy();
    let found = answer(&host, flags).map_err(|message| not_found(&message))?;
    let mut list: *mut glib::GList = std::ptr::null_mut();
    for ip in found {
        let text = CString::new(ip.to_string()).expect("an IP has no NUL");
        // SAFETY: a valid C string; the new address is owned by the list.
        unsafe {
            let address = gio::g_inet_address_new_from_string(text.as_ptr());
            if !address.is_null() {
                list = glib::g_list_append(list, address as glib::gpointer);
            }
        }
    }
    if list.is_null() {
        return Err(not_found("no address"));
    }
    Ok(list)
}

unsafe fn set_error(error: *mut *mut glib::GError, value: *mut glib::GError) {
    if error.is_null() {
        // SAFETY: the caller does not want it; we own it.
        unsafe { glib::g_error_free(value) };
    } else {
        // SAFETY: GError out-parameters point to a NULL GError*.
        unsafe { *error = value };
    }
}

unsafe extern "C" fn free_addresses(list: glib::gpointer) {
    // SAFETY: only ever given lists built by `addresses`.
    unsafe { gio::g_resolver_free_addresses(list as *mut glib::GList) };
}

unsafe extern "C" fn lookup_by_name_with_flags(
    _: *mut gio::GResolver,
    hostname: *const c_char,
    flags: gio::GResolverNameLookupFlags,
    _: *mut gio::GCancellable,
    error: *mut *mut glib::GError,
) -> *mut glib::GList {
    // SAFETY: arguments as GIO passes them.
    match unsafe { addresses(hostname, flags) } {
        Ok(list) => list,
        Err(value) => {
            unsafe { set_error(error, value) };
            std::ptr::null_mut()
        }
    }
}

unsafe extern "C" fn lookup_by_name(
    resolver: *mut gio::GResolver,
    hostname: *const c_char,
    cancellable: *mut gio::GCancellable,
    error: *mut *mut glib::GError,
) -> *mut glib::GList {
    unsafe {
        lookup_by_name_with_flags(
            resolver,
            hostname,
            gio::G_RESOLVER_NAME_LOOKUP_FLAGS_DEFAULT,
            cancellable,
            error,
        )
    }
}

/// Answers through a GTask, which calls back from the caller's main
/// context on a later iteration (never from within this call).
unsafe fn answer_async(
    resolver: *mut gio::GResolver,
    cancellable: *mut gio::GCancellable,
    callback: gio::GAsyncReadyCallback,
    user_data: glib::gpointer,
    result: Result<*mut glib::GList, *mut glib::GError>,
) {
    // SAFETY: a GTask on the resolver; the result (or error) is handed over.
    unsafe {
        let task = gio::g_task_new(
            resolver as *mut gobject::GObject,
            cancellable,
            callback,
            user_data,
        );
        match result {
            Ok(list) => {
                gio::g_task_return_pointer(task, list as glib::gpointer, Some(free_addresses));
            }
            Err(error) => gio::g_task_return_error(task, error),
        }
        gobject::g_object_unref(task as *mut gobject::GObject);
    }
}

unsafe extern "C" fn lookup_by_name_with_flags_async(
    resolver: *mut gio::GResolver,
    hostname: *const c_char,
    flags: gio::GResolverNameLookupFlags,
    cancellable: *mut gio::GCancellable,
    callback: gio::GAsyncReadyCallback,
    user_data: glib::gpointer,
) {
    unsafe {
        let result = addresses(hostname, flags);
        answer_async(resolver, cancellable, callback, user_data, result);
    }
}

unsafe extern "C" fn lookup_by_name_async(
    resolver: *mut gio::GResolver,
    hostname: *const c_char,
    cancellable: *mut gio::GCancellable,
    callback: gio::GAsyncReadyCallback,
    user_data: glib::gpointer,
) {
    unsafe {
        lookup_by_name_with_flags_async(
            resolver,
            hostname,
            gio::G_RESOLVER_NAME_LOOKUP_FLAGS_DEFAULT,
            cancellable,
            callback,
            user_data,
        );
    }
}

unsafe extern "C" fn finish_list(
    _: *mut gio::GResolver,
    result: *mut gio::GAsyncResult,
    error: *mut *mut glib::GError,
) -> *mut glib::GList {
    // SAFETY: `result` is one of our GTasks.
    unsafe { gio::g_task_propagate_pointer(result as *mut gio::GTask, error) as *mut glib::GList }
}

unsafe extern "C" fn finish_string(
    _: *mut gio::GResolver,
    result: *mut gio::GAsyncResult,
    error: *mut *mut glib::GError,
) -> *mut c_char {
    // SAFETY: `result` is one of our GTasks (which only ever carry errors).
    unsafe { gio::g_task_propagate_pointer(result as *mut gio::GTask, error) as *mut c_char }
}

// Reverse lookups, SRV and other records: nothing in an egress needs them.

unsafe extern "C" fn lookup_by_address(
    _: *mut gio::GResolver,
    _: *mut gio::GInetAddress,
    _: *mut gio::GCancellable,
    error: *mut *mut glib::GError,
) -> *mut c_char {
    unsafe { set_error(error, not_found("reverse lookups are not supported")) };
    std::ptr::null_mut()
}

unsafe extern "C" fn lookup_by_address_async(
    resolver: *mut gio::GResolver,
    _: *mut gio::GInetAddress,
    cancellable: *mut gio::GCancellable,
    callback: gio::GAsyncReadyCallback,
    user_data: glib::gpointer,
) {
    let error = not_found("reverse lookups are not supported");
    unsafe { answer_async(resolver, cancellable, callback, user_data, Err(error)) };
}

unsafe extern "C" fn lookup_service(
    _: *mut gio::GResolver,
    _: *const c_char,
    _: *mut gio::GCancellable,
    error: *mut *mut glib::GError,
) -> *mut glib::GList {
    unsafe { set_error(error, not_found("service lookups are not supported")) };
    std::ptr::null_mut()
}

unsafe extern "C" fn lookup_service_async(
    resolver: *mut gio::GResolver,
    _: *const c_char,
    cancellable: *mut gio::GCancellable,
    callback: gio::GAsyncReadyCallback,
    user_data: glib::gpointer,
) {
    let error = not_found("service lookups are not supported");
    unsafe { answer_async(resolver, cancellable, callback, user_data, Err(error)) };
}

unsafe extern "C" fn lookup_records(
    _: *mut gio::GResolver,
    _: *const c_char,
    _: gio::GResolverRecordType,
    _: *mut gio::GCancellable,
    error: *mut *mut glib::GError,
) -> *mut glib::GList {
    unsafe { set_error(error, not_found("record lookups are not supported")) };
    std::ptr::null_mut()
}

unsafe extern "C" fn lookup_records_async(
    resolver: *mut gio::GResolver,
    _: *const c_char,
    _: gio::GResolverRecordType,
    cancellable: *mut gio::GCancellable,
    callback: gio::GAsyncReadyCallback,
    user_data: glib::gpointer,
) {
    let error = not_found("record lookups are not supported");
    unsafe { answer_async(resolver, cancellable, callback, user_data, Err(error)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What GIO's default resolver answers for `host` (sync lookup).
    fn resolve(host: &str, flags: gio::GResolverNameLookupFlags) -> Result<Vec<String>, String> {
        let host = CString::new(host).unwrap();
        unsafe {
            let resolver = gio::g_resolver_get_default();
            let mut error: *mut glib::GError = std::ptr::null_mut();
            let list = gio::g_resolver_lookup_by_name_with_flags(
                resolver,
                host.as_ptr(),
                flags,
                std::ptr::null_mut(),
                &mut error,
            );
            gobject::g_object_unref(resolver as *mut gobject::GObject);
            if list.is_null() {
                let message = CStr::from_ptr((*error).message)
                    .to_string_lossy()
                    .into_owned();
                glib::g_error_free(error);
                return Err(message);
            }
            let mut out = Vec::new();
            let mut node = list;
            while !node.is_null() {
                let text = gio::g_inet_address_to_string((*node).data as *mut gio::GInetAddress);
                out.push(CStr::from_ptr(text).to_string_lossy().into_owned());
                glib::g_free(text as glib::gpointer);
                node = (*node).next;
            }
            gio::g_resolver_free_addresses(list);
            Ok(out)
        }
    }

    #[test]
    fn gio_resolves_only_pinned_names_to_their_pins() {
        let all = gio::G_RESOLVER_NAME_LOOKUP_FLAGS_DEFAULT;
        pin(
            "Ingest.Pinned.Test",
            &[
                "93.184.216.34".parse().unwrap(),
                "2001:4860::1".parse().unwrap(),
            ],
        );
        assert_eq!(
            resolve("ingest.pinned.test", all).unwrap(),
            ["93.184.216.34", "2001:4860::1"]
        );
        assert_eq!(
            resolve(
                "ingest.pinned.test.",
                gio::G_RESOLVER_NAME_LOOKUP_FLAGS_IPV6_ONLY
            )
            .unwrap(),
            ["2001:4860::1"]
        );
        // A name never pinned does not resolve at all (fail closed), even
        // one the system resolver knows.
        assert!(resolve("other.pinned.test", all).is_err());
        assert!(resolve("one.one.one.one", all).is_err());
        // A new pin replaces the old answer.
        pin("ingest.pinned.test", &["93.184.216.35".parse().unwrap()]);
        assert_eq!(
            resolve("ingest.pinned.test", all).unwrap(),
            ["93.184.216.35"]
        );
        assert!(
            resolve(
                "ingest.pinned.test",
                gio::G_RESOLVER_NAME_LOOKUP_FLAGS_IPV6_ONLY
            )
            .is_err()
        );
    }
}
