//! Extra schemas from --proto files and directories, and their errors.

use std::fs;
use std::path::PathBuf;

use super::*;

#[test]
fn extra_schemas_from_proto_files() {
    let dir = tempfile::tempdir().unwrap();
    let proto = dir.path().join("plugin.proto");
    fs::write(
        &proto,
        r#"syntax = "proto3";
package example.plugin.v1;
import "google/protobuf/timestamp.proto";
import "containerd/types/mount.proto";
service Plugin {
  rpc Mount(MountRequest) returns (MountResponse);
  rpc Watch(MountRequest) returns (stream MountResponse);
}
message MountRequest { string volume = 1; containerd.types.Mount mount = 2; }
message MountResponse { google.protobuf.Timestamp at = 1; }
"#,
    )
    .unwrap();
    // A vendored copy of a file we embed is skipped, and imports of its name
    // get ours: this one would not compile.
    let vendored = dir.path().join("google/protobuf");
    fs::create_dir_all(&vendored).unwrap();
    fs::write(vendored.join("timestamp.proto"), "not protobuf").unwrap();
    for given in [proto.clone(), dir.path().to_path_buf()] {
        let s = Schemas::with_extra(&[given]).unwrap();
        let m = s.method("/example.plugin.v1.Plugin/Watch").unwrap();
        assert_eq!(m.input, "example.plugin.v1.MountRequest");
        assert!(m.server_streaming);
        // The embedded schemas are still there.
        assert!(s.method(NS_CREATE).is_some());
        let payload = encode(
            &s,
            "example.plugin.v1.MountRequest",
            r#"volume: "pv-1" mount { type: "ext4" }"#,
        );
        let d = s.decode(Some("/example.plugin.v1.Plugin/Mount"), true, &payload);
        assert_eq!(d.text, r#"volume:"pv-1" mount:{type:"ext4"}"#);
    }
}

#[test]
fn extra_schema_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.proto");
    fs::write(
        &bad,
        "syntax = \"proto3\";\nmessage Bad { strin name = 1; }\n",
    )
    .unwrap();
    let err = Schemas::with_extra(std::slice::from_ref(&bad))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("cannot compile protobuf schema "), "{err}");
    assert!(err.contains("bad.proto:2:15"), "{err}");
    assert!(err.contains("strin"), "{err}");
    assert!(!err.contains('\n'), "{err}");

    let lonely = dir.path().join("lonely.proto");
    fs::write(
        &lonely,
        "syntax = \"proto3\";\nimport \"other/dep.proto\";\n",
    )
    .unwrap();
    let err = Schemas::with_extra(&[lonely]).unwrap_err().to_string();
    assert!(err.contains("other/dep.proto"), "{err}");
    assert!(err.ends_with("with --proto"), "{err}");

    let err = Schemas::with_extra(&[PathBuf::from("/nonexistent/x.proto")]).unwrap_err();
    assert!(
        format!("{err:#}").contains("/nonexistent/x.proto"),
        "{err:#}"
    );

    let empty = tempfile::tempdir().unwrap();
    let err = Schemas::with_extra(&[empty.path().to_path_buf()]).unwrap_err();
    assert!(err.to_string().contains("holds no .proto files"), "{err}");
}
