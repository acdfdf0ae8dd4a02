//! Non-blocking UDP sockets with large buffers, and a wait for readability.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Binds a non-blocking UDP socket on `ip:0` with `buffer` bytes of receive
/// and send buffer. As root the kernel's rmem_max/wmem_max are bypassed
/// (SO_RCVBUFFORCE); otherwise they cap the size.
pub fn bind(ip: std::net::IpAddr, buffer: usize) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0))?;
    socket.set_nonblocking(true)?;
    let fd = socket.as_raw_fd();
    let size = libc::c_int::try_from(buffer).unwrap_or(libc::c_int::MAX);
    for (forced, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if set_int(fd, forced, size).is_err() {
            let _ = set_int(fd, plain, size);
        }
    }
    Ok(socket)
}

fn set_int(fd: libc::c_int, option: libc::c_int, value: libc::c_int) -> std::io::Result<()> {
    // SAFETY: a valid fd and a pointer to a c_int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The receive buffer the kernel granted, in bytes.
pub fn receive_buffer(socket: &UdpSocket) -> usize {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: valid fd, out-pointers to a c_int and its length.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 { value.max(0) as usize } else { 0 }
}

/// Waits until `socket` is readable or `timeout` passes (rounded up to 1 ms).
pub fn wait_readable(socket: &UdpSocket, timeout: Duration) {
    let mut fds = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_micros().div_ceil(1000).min(1000) as libc::c_int;
    // SAFETY: one valid pollfd.
    unsafe {
        libc::poll(&mut fds, 1, ms);
    }
}
