use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use rgi_core::Body;

use super::*;

#[test]
fn ranges_read_whole_and_in_chunks() {
    // BODY-7
    let mut file = tempfile::tempfile().unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    file.write_all(&data).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let whole = rt.block_on(Body::wrap(FileBody::whole(file.try_clone().unwrap()).unwrap()).collect(1 << 20));
    assert_eq!(whole.unwrap(), data);
    let range = rt.block_on(Body::wrap(FileBody::new(file.try_clone().unwrap(), 70_000, 100_000)).collect(1 << 20));
    assert_eq!(range.unwrap(), data[70_000..170_000]);
    let short = rt.block_on(Body::wrap(FileBody::new(file, 190_000, 20_000)).collect(1 << 20));
    assert!(short.unwrap_err().is_io(), "a file that ends early fails the body");
}

#[test]
fn a_slow_read_does_not_stall_the_runtime() {
    // BODY-7
    // One runtime thread; the "disk" is a FIFO that delivers its bytes only
    // after another task on that thread has run. A read that blocked the
    // thread would deadlock here; the watchdog then feeds the FIFO so the
    // test ends, and the order of events shows the stall.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("slow-disk");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other requirement.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    // Read-write, so opening does not wait for a writer.
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&fifo).unwrap();
    let mut writer = file.try_clone().unwrap();
    let (events, order) = mpsc::channel::<&str>();
    let (ticked, tick) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        // The tick, or the watchdog's timeout: either way the data comes.
        let _ = tick.recv_timeout(Duration::from_secs(10));
        writer.write_all(b"hello").unwrap();
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let read_events = events.clone();
    rt.block_on(async move {
        let other = tokio::spawn(async move {
            tokio::task::yield_now().await;
            events.send("other task ran").unwrap();
            // Gone if the watchdog already fed the FIFO (the stalled case).
            let _ = ticked.send(());
        });
        let body = Body::wrap(FileBody::new(file, 0, 5)).collect(5).await.unwrap();
        read_events.send("file read").unwrap();
        assert_eq!(body, "hello");
        other.await.unwrap();
    });
    let seen: Vec<_> = order.try_iter().collect();
    assert_eq!(seen, ["other task ran", "file read"], "the read blocked the runtime thread");
}
