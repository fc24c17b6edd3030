use super::*;

fn cells(method: &str, comm: &str) -> [String; COLUMNS + 1] {
    [
        "14:10:00.123",
        comm,
        "20598/20611",
        "containerd/20598",
        "REQ",
        "c1:1",
        method,
        "name:\"x\"",
    ]
    .map(str::to_string)
}

/// Where MESSAGE starts in `row`, in terminal columns.
fn message_at(row: &str) -> usize {
    row[..row.rfind("name:").unwrap()].width()
}

/// Where MESSAGE starts in the header at `l`'s widths.
fn header_message_at(l: &Layout) -> usize {
    let h = l.header();
    h[..h.find("MESSAGE").unwrap()].width()
}

#[test]
fn method_bound_follows_the_terminal() {
    assert_eq!(method_bound(100), 16);
    assert_eq!(method_bound(120), 24);
    assert_eq!(method_bound(160), 40);
    assert_eq!(method_bound(40), 10);
    assert_eq!(method_bound(400), 40);
}

#[test]
fn columns_start_as_wide_as_their_headers() {
    let l = Layout::new(Some(120), false);
    assert_eq!(
        l.header(),
        "TIMESTAMP COMM PID/TID PEER TYPE STREAM METHOD MESSAGE"
    );
    let mut l = Layout::new(None, true);
    assert!(l.fit(&cells("Namespaces/Create", "ctr")));
    assert_eq!(l.widths(), [12, 4, 11, 16, 4, 6, 17]);
    assert!(!l.fit(&cells("Tasks/Get", "ctr")), "nothing wider");
}

#[test]
fn live_columns_start_as_wide_as_their_cells_can_be() {
    // pid_max 32768: pids of 5 digits; 4194304: 7.
    let l = Layout::live(Some(120), false, 5);
    assert_eq!(l.widths(), [12, 15, 11, 21, 4, 6, 12]);
    let mut l = Layout::live(Some(120), false, 7);
    assert_eq!(l.widths(), [12, 15, 15, 23, 4, 6, 12]);
    // The widest comm, pids and peer change nothing.
    let mut widest = cells("Tasks/Get", "containerd-shim");
    widest[2] = "4194303/4194302".into();
    widest[3] = "containerd-shim/4194303".into();
    assert!(!l.fit(&widest), "{:?}", l.widths());
    // A stream or method past the common widths does.
    widest[5] = "c12:345678".into();
    assert!(l.fit(&widest));
    assert_eq!(l.widths()[5], 10);
    // --full: microseconds and method paths; not a terminal: nothing bound.
    assert_eq!(
        Layout::live(None, true, 7).widths(),
        [15, 15, 15, 23, 4, 6, 32]
    );
    // METHOD starts within the terminal's bound.
    assert_eq!(Layout::live(Some(40), false, 7).widths()[METHOD], 10);
}

#[test]
fn message_starts_where_the_header_says_on_common_terminals() {
    // 100 columns cut `Namespaces/Create` (17) to 16.
    for (columns, at) in [(100, 76), (120, 77), (160, 77)] {
        let mut l = Layout::new(Some(columns), false);
        let first = cells("Namespaces/Create", "ctr");
        l.fit(&first);
        let row = l.row(&first);
        assert_eq!(message_at(&row), at, "{columns} columns: {row}");
        assert_eq!(header_message_at(&l), at);
    }
}

#[test]
fn a_long_method_is_cut_at_its_start_by_the_terminal() {
    let long = "RuntimeService/ListPodSandboxStats";
    let row = |columns, full| {
        let mut l = Layout::new(Some(columns), full);
        l.fit(&cells(long, "ctr"));
        (l.row(&cells(long, "ctr")), l.widths()[METHOD])
    };
    let (r, w) = row(100, false);
    assert!(r.contains(" …PodSandboxStats name:"), "{r}");
    assert_eq!(w, 16);
    let (r, w) = row(120, false);
    assert!(r.contains(" …ice/ListPodSandboxStats name:"), "{r}");
    assert_eq!(w, 24);
    let (r, w) = row(160, false);
    assert!(r.contains(&format!(" {long} name:")), "{r}");
    assert_eq!(w, long.len());
    // Full: nothing is cut, however narrow the terminal.
    assert!(row(100, true).0.contains(long));
}

#[test]
fn widths_only_grow_so_later_short_rows_stay_aligned() {
    let mut l = Layout::new(Some(160), false);
    let wide = cells("Containers/Create", "containerd-shim");
    assert!(l.fit(&wide));
    let narrow = cells("<unknown>", "ctr");
    assert!(!l.fit(&narrow));
    assert_eq!(message_at(&l.row(&wide)), message_at(&l.row(&narrow)));
    assert_eq!(message_at(&l.row(&narrow)), header_message_at(&l));
}

#[test]
fn wide_characters_count_two_columns() {
    let mut l = Layout::new(Some(120), false);
    let (ascii, cjk) = (
        cells("Namespaces/Create", "ctr"),
        cells("Namespaces/Create", "日本語"),
    );
    l.fit(&ascii);
    l.fit(&cjk);
    assert_eq!(l.widths()[1], 6);
    assert_eq!(message_at(&l.row(&ascii)), message_at(&l.row(&cjk)));
    assert_eq!(cut_to_width("日本語テキスト", 7), "日本語…");
    assert_eq!(cut_front("日本語テキスト", 7), "…キスト");
    assert_eq!(cut_to_width("abcdef", 4), "abc…");
    assert_eq!(cut_front("abcdef", 4), "…def");
    assert_eq!(cut_front("abc", 3), "abc");
}

#[test]
fn the_header_names_the_columns_at_their_widths() {
    let mut l = Layout::live(Some(120), false, 5);
    let first = cells("Namespaces/Create", "ctr");
    l.fit(&first);
    let h = l.header();
    assert!(
        h.starts_with("TIMESTAMP    COMM                PID/TID PEER                  TYPE"),
        "{h}"
    );
    assert_eq!(header_message_at(&l), message_at(&l.row(&first)));
}
