use super::*;

/// A writer that keeps what it gets, failing after `limit` bytes.
struct Sink {
    got: Arc<Mutex<Vec<u8>>>,
    limit: usize,
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut got = self.got.lock().unwrap();
        if got.len() + data.len() > self.limit {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        got.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn every_byte_arrives_in_order() {
    let got = Arc::new(Mutex::new(vec![]));
    let sink = Sink {
        got: got.clone(),
        limit: usize::MAX,
    };
    let mut s = Spool::new(Box::new(sink)).unwrap();
    let mut want = vec![];
    for i in 0..40_000u32 {
        let piece: Vec<u8> = (0..(i % 300)).map(|j| (i + j) as u8).collect();
        s.write_all(&piece).unwrap();
        want.extend_from_slice(&piece);
        if i % 1000 == 0 {
            s.flush().unwrap();
        }
    }
    s.close().unwrap();
    assert_eq!(*got.lock().unwrap(), want);
}

#[test]
fn a_write_error_keeps_its_os_code() {
    let sink = Sink {
        got: Arc::new(Mutex::new(vec![])),
        limit: 3 * BUF,
    };
    let mut s = Spool::new(Box::new(sink)).unwrap();
    let chunk = vec![7u8; 64 << 10];
    let mut err = None;
    for _ in 0..200 {
        if let Err(e) = s.write_all(&chunk).and_then(|()| s.flush()) {
            err = Some(e);
            break;
        }
    }
    let err = err.or_else(|| s.close().err()).expect("the sink fills up");
    assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
}
