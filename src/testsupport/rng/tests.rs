use super::*;

#[test]
fn reproducible_and_bounded() {
    let (mut a, mut b) = (Rng::new(7), Rng::new(7));
    assert_eq!(a.bytes(100), b.bytes(100));
    assert!((0..1000).all(|_| a.below(10) < 10));
    assert_eq!(a.below(0), 0);
    let mut v: Vec<u32> = (0..50).collect();
    a.shuffle(&mut v);
    v.sort_unstable();
    assert_eq!(v, (0..50).collect::<Vec<_>>());
    assert_ne!(Rng::new(0).next_u64(), 0);
}
