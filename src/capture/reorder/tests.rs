use super::*;

#[test]
fn records_leave_in_the_order_their_calls_began() {
    let mut r = Reorder::default();
    r.push(1_000, b"response".to_vec());
    r.push(900, b"request".to_vec());
    assert_eq!(r.pop_due(1_000), None, "both are within the window");
    let late = 900 + WINDOW_NS;
    assert_eq!(r.pop_due(late).as_deref(), Some(&b"request"[..]));
    assert_eq!(r.pop_due(late), None, "the response is not due yet");
    assert_eq!(r.pop_any().as_deref(), Some(&b"response"[..]));
    assert_eq!(r.pop_any(), None);
}

#[test]
fn equal_times_keep_their_arrival_order() {
    let mut r = Reorder::default();
    for i in 0..5u8 {
        r.push(7, vec![i]);
    }
    let out: Vec<u8> = std::iter::from_fn(|| r.pop_any()).map(|v| v[0]).collect();
    assert_eq!(out, [0, 1, 2, 3, 4]);
}

#[test]
fn memory_is_bounded() {
    let mut r = Reorder::default();
    let chunk = vec![0u8; 32 << 10];
    let mut released = 0;
    for i in 0..1000 {
        r.push(i, chunk.clone());
        while r.pop_due(i).is_some() {
            released += 1;
        }
        assert!(r.held <= MAX_HELD, "{} bytes held", r.held);
    }
    assert!(released > 0);
}
