//! Building the pool: same names, missing imports, conflicts and cycles.

use prost_reflect::prost_types::FileOptions;

use super::*;
use crate::protobuf::binary::pool::Origin;

#[test]
fn one_name_two_packages_keeps_both() {
    let svc = |name: &str| ServiceDescriptorProto {
        name: Some(name.into()),
        method: vec![MethodDescriptorProto {
            name: Some("Get".into()),
            input_type: Some(".google.protobuf.Empty".into()),
            output_type: Some(".google.protobuf.Empty".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let with = |package: &str| {
        file("api.proto", package, |f| {
            f.dependency = vec!["google/protobuf/empty.proto".into()];
            f.service = vec![svc("RuntimeService")];
        })
    };
    let (pool, report) = build_pool(
        &found(vec![with("runtime.v1alpha2"), with("runtime.v1")]),
        Schemas::embedded().pool(),
    );
    assert!(pool
        .get_service_by_name("runtime.v1alpha2.RuntimeService")
        .is_some());
    assert!(pool
        .get_service_by_name("runtime.v1.RuntimeService")
        .is_some());
    let renamed = report
        .files
        .iter()
        .find(|f| f.package == "runtime.v1")
        .unwrap();
    assert_eq!(renamed.name, "runtime/v1/api.proto");
    assert_eq!(renamed.registered_as.as_deref(), Some("api.proto"));
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("runtime/v1/api.proto")));
    // empty.proto is not in the binary: taken from the bundled schemas.
    let empty = report
        .files
        .iter()
        .find(|f| f.name == "google/protobuf/empty.proto");
    assert_eq!(empty.map(|f| f.origin), Some(Origin::Bundled));
    assert!(report.dropped.is_empty(), "{:?}", report.dropped);
    assert_eq!(report.services().count(), 2);
}

#[test]
fn one_name_one_package_keeps_the_first() {
    let a = file("x.proto", "p", |_| {});
    let b = file("x.proto", "p", |f| {
        f.options = Some(FileOptions {
            go_package: Some("example.com/p".into()),
            ..Default::default()
        })
    });
    let c = file("x.proto", "p", |f| {
        f.message_type[0].name = Some("N".into())
    });
    let (pool, report) = build_pool(&found(vec![a, b, c]), Schemas::embedded().pool());
    assert!(pool.get_message_by_name("p.M").is_some());
    assert_eq!(report.dropped.len(), 2);
    assert!(report.dropped[0]
        .reason
        .contains("same types with other options"));
    assert!(report.dropped[1].reason.contains("other types"));
}

#[test]
fn missing_imports_are_left_out_or_drop_the_file() {
    let unused = file("uses_nothing.proto", "u", |f| {
        f.dependency = vec!["nowhere/options.proto".into()];
    });
    let used = file("needs.proto", "n", |f| {
        f.dependency = vec!["nowhere/dep.proto".into()];
        f.message_type[0].field.push(field(
            "d",
            2,
            Type::Message,
            Label::Optional,
            ".nowhere.Dep",
        ));
    });
    let (pool, report) = build_pool(&found(vec![unused, used]), Schemas::embedded().pool());
    assert!(pool.get_message_by_name("u.M").is_some());
    assert!(pool
        .get_file_by_name("uses_nothing.proto")
        .unwrap()
        .dependencies()
        .next()
        .is_none());
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains("nowhere/options.proto")));
    assert!(pool.get_message_by_name("n.M").is_none());
    assert_eq!(report.dropped.len(), 1);
    assert!(
        report.dropped[0].reason.contains("nowhere/dep.proto"),
        "{:?}",
        report.dropped
    );
}

#[test]
fn imports_by_another_path_are_resolved() {
    let gogo = file("gogo.proto", "gogoproto", |f| {
        f.dependency = vec!["google/protobuf/descriptor.proto".into()];
        f.message_type.clear();
        f.syntax = None;
        let mut ext = field("nullable", 65001, Type::Bool, Label::Optional, "");
        ext.extendee = Some(".google.protobuf.FieldOptions".into());
        f.extension = vec![ext];
    });
    let user = file("github.com/x/user.proto", "x", |f| {
        f.dependency = vec![
            "github.com/gogo/protobuf/gogoproto/gogo.proto".into(),
            "gogoproto/gogo.proto".into(),
        ];
        f.public_dependency = vec![1];
    });
    let (pool, report) = build_pool(&found(vec![gogo, user]), Schemas::embedded().pool());
    let deps: Vec<String> = pool
        .get_file_by_name("github.com/x/user.proto")
        .unwrap()
        .dependencies()
        .map(|d| d.name().to_owned())
        .collect();
    assert_eq!(deps, ["gogo.proto"]);
    assert_eq!(
        pool.get_file_by_name("github.com/x/user.proto")
            .unwrap()
            .file_descriptor_proto()
            .public_dependency,
        [0]
    );
    // descriptor.proto: from the well-known types.
    let wkt = report
        .files
        .iter()
        .find(|f| f.name == "google/protobuf/descriptor.proto");
    assert_eq!(wkt.map(|f| f.origin), Some(Origin::WellKnown));
    assert_eq!(
        report
            .warnings
            .iter()
            .filter(|w| w.contains("resolved to gogo.proto"))
            .count(),
        2
    );
}

#[test]
fn conflicts_and_cycles_are_dropped_with_their_importers() {
    let a = file("a.proto", "p", |_| {});
    let b = file("b.proto", "p", |_| {}); // p.M again
    let c = file("c.proto", "c", |f| f.dependency = vec!["b.proto".into()]);
    let x = file("x.proto", "x", |f| f.dependency = vec!["y.proto".into()]);
    let y = file("y.proto", "y", |f| f.dependency = vec!["x.proto".into()]);
    // prost-reflect 0.16 panics on an unknown syntax: refused before.
    let e = file("e.proto", "e", |f| f.syntax = Some("editions".into()));
    let empty = file("empty.proto", "empty", |f| f.syntax = Some(String::new()));
    let files = vec![a, b, c, x, y, e, empty];
    let (pool, report) = build_pool(&found(files), Schemas::embedded().pool());
    assert!(pool.get_file_by_name("a.proto").is_some());
    let reason = |name: &str| {
        report
            .dropped
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.reason.clone())
            .unwrap_or_default()
    };
    assert!(
        reason("b.proto").contains("already defined"),
        "{}",
        reason("b.proto")
    );
    assert!(reason("c.proto").contains("b.proto, which was left out"));
    assert!(reason("x.proto").contains("cycle") || reason("y.proto").contains("cycle"));
    assert!(reason("e.proto").contains("syntax \"editions\" is not supported"));
    assert!(pool.get_message_by_name("empty.M").is_some());
    assert_eq!(pool.files().len(), 2);
}
