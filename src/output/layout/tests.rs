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

#[test]
fn method_bound_follows_the_terminal() {
    assert_eq!(method_bound(100), 16);
    assert_eq!(method_bound(120), 24);
    assert_eq!(method_bound(160), 40);
    assert_eq!(method_bound(40), 10);
    assert_eq!(method_bound(400), 40);
}

#[test]
fn message_starts_in_the_low_80s_on_common_terminals() {
    // 100 columns cut `Namespaces/Create` (17) to 16.
    for (columns, at) in [(100, 82), (120, 83), (160, 83)] {
        let mut l = Layout::new(Some(columns), false);
        let row = l.row(&cells("Namespaces/Create", "ctr"));
        assert_eq!(message_at(&row), at, "{columns} columns: {row}");
    }
}

#[test]
fn a_long_method_is_cut_at_its_start_by_the_terminal() {
    let long = "RuntimeService/ListPodSandboxStats";
    let mut l = Layout::new(Some(100), false);
    let row = l.row(&cells(long, "ctr"));
    assert!(row.contains(" …PodSandboxStats name:"), "{row}");
    assert_eq!(l.widths()[METHOD], 16);
    let mut l = Layout::new(Some(120), false);
    assert!(l
        .row(&cells(long, "ctr"))
        .contains(" …ice/ListPodSandboxStats name:"));
    assert_eq!(l.widths()[METHOD], 24);
    let mut l = Layout::new(Some(160), false);
    assert!(l
        .row(&cells(long, "ctr"))
        .contains(&format!(" {long} name:")));
    assert_eq!(l.widths()[METHOD], long.len());
    // Full: nothing is cut, however narrow the terminal.
    let mut l = Layout::new(Some(100), true);
    assert!(l.row(&cells(long, "ctr")).contains(long));
}

#[test]
fn widths_only_grow_so_later_short_rows_stay_aligned() {
    let mut l = Layout::new(Some(160), false);
    let wide = l.row(&cells("Containers/Create", "containerd-shim"));
    let narrow = l.row(&cells("<unknown>", "ctr"));
    assert_eq!(message_at(&wide), message_at(&narrow));
    // `<unknown>` alone keeps METHOD at its starting width.
    let mut l = Layout::new(Some(160), false);
    l.row(&cells("<unknown>", "ctr"));
    assert_eq!(l.widths()[METHOD], START[METHOD]);
}

#[test]
fn wide_characters_count_two_columns() {
    let mut l = Layout::new(Some(120), false);
    let ascii = l.row(&cells("Namespaces/Create", "ctr"));
    let cjk = l.row(&cells("Namespaces/Create", "日本語"));
    assert_eq!(message_at(&ascii), message_at(&cjk));
    assert_eq!(cut_to_width("日本語テキスト", 7), "日本語…");
    assert_eq!(cut_front("日本語テキスト", 7), "…キスト");
    assert_eq!(cut_to_width("abcdef", 4), "abc…");
    assert_eq!(cut_front("abcdef", 4), "…def");
    assert_eq!(cut_front("abc", 3), "abc");
}

#[test]
fn the_header_names_the_columns_at_their_widths() {
    let mut l = Layout::new(Some(120), false);
    let first = cells("Namespaces/Create", "ctr");
    l.fit(&first);
    let h = l.header();
    assert!(
        h.starts_with("TIMESTAMP    COMM           PID/TID PEER"),
        "{h}"
    );
    let row = l.row(&first);
    assert_eq!(h.find("MESSAGE").unwrap(), message_at(&row));
}
