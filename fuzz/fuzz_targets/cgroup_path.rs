//! Cgroup paths as the kernel's SNOOP_CGROUP records and /proc give them
//! (lossily UTF-8: a cgroup's name is any bytes but `/` and NUL), through
//! `flow::container::from_cgroup_path`. The first byte's bit 0 says
//! whether the path is complete. It asserts that an id found is a valid
//! id taken from the path, that an incomplete path is never the host but
//! through a runtime monitor's scope, and that a container's placement is
//! written to a capture comment and read back the same.
#![no_main]

use containerdsnoop::flow::container::from_cgroup_path;
use containerdsnoop::flow::{Comm, ContainerId, InContainer, Process};
use containerdsnoop::pcapng::comment;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let complete = first & 1 == 1;
    let path = String::from_utf8_lossy(rest);
    let found = from_cgroup_path(&path, complete);
    match found {
        InContainer::Container(c) => {
            let id = c.id.as_str();
            assert!(path.contains(id), "{path:?} -> {id:?}");
            assert_eq!(ContainerId::new(id), Some(c.id));
            assert!(c.id.short().len() <= 12);
        }
        InContainer::Host if !complete => {
            assert!(
                path.contains("conmon"),
                "{path:?}: host from a partial path"
            )
        }
        _ => {}
    }
    // The same path written with doubled or trailing slashes means the same.
    assert_eq!(from_cgroup_path(&format!("/{path}/"), complete), found);

    let writer = Process {
        container: found,
        ..Process::thread(1, 2, Comm::from_name("ctr"))
    };
    let text = comment::writer(&writer).expect("a writer with a pid");
    assert_eq!(comment::parse_writer(&text), Some(writer), "{text:?}");
});
