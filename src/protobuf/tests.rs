use std::fs;
use std::path::PathBuf;

use prost::Message;
use prost_reflect::{DynamicMessage, Value as PValue};
use serde_json::json;

use super::*;

const NS_CREATE: &str = "/containerd.services.namespaces.v1.Namespaces/Create";
const CONTENT_WRITE: &str = "/containerd.services.content.v1.Content/Write";

/// Encodes a message of type `name` given in protobuf text format.
fn encode(schemas: &Schemas, name: &str, text: &str) -> Vec<u8> {
    let desc = schemas.pool().get_message_by_name(name).expect(name);
    DynamicMessage::parse_text_format(desc, text)
        .expect("valid text format")
        .encode_to_vec()
}

use crate::testsupport::Rng;

#[test]
fn embedded_has_containerd_and_cri_methods() {
    let s = Schemas::embedded();
    let m = s.method(NS_CREATE).expect("namespaces Create");
    assert_eq!(m.service, "containerd.services.namespaces.v1.Namespaces");
    assert_eq!(m.method, "Create");
    assert_eq!(
        m.input,
        "containerd.services.namespaces.v1.CreateNamespaceRequest"
    );
    assert_eq!(
        m.output,
        "containerd.services.namespaces.v1.CreateNamespaceResponse"
    );
    assert!(!m.client_streaming && !m.server_streaming);

    let pull = s
        .method("/runtime.v1.ImageService/PullImage")
        .expect("CRI v1");
    assert_eq!(pull.input, "runtime.v1.PullImageRequest");
    let req = s.pool().get_message_by_name(&pull.input).unwrap();
    assert!(req.get_field_by_name("auth").is_some());
    assert!(s
        .pool()
        .get_message_by_name("runtime.v1.AuthConfig")
        .is_some());
    assert!(s
        .method("/runtime.v1alpha2.RuntimeService/RunPodSandbox")
        .is_some());
    assert!(s.method("/containerd.task.v2.Task/Create").is_some());
    assert!(
        s.method("/containerd.services.events.v1.Events/Subscribe")
            .unwrap()
            .server_streaming
    );
    assert!(s.method(CONTENT_WRITE).unwrap().client_streaming);
    assert!(s.method("/containerd.services.nope.v1.X/Y").is_none());
    assert!(s
        .pool()
        .get_message_by_name("google.protobuf.Struct")
        .is_some());
}

#[test]
fn typed_namespace_create() {
    let s = Schemas::embedded();
    let payload = encode(
        &s,
        "containerd.services.namespaces.v1.CreateNamespaceRequest",
        r#"namespace { name: "snoop" labels { key: "a" value: "b" } }"#,
    );
    let d = s.decode(Some(NS_CREATE), true, &payload);
    assert_eq!(d.schema, SchemaUse::Typed);
    assert_eq!(
        d.type_name.as_deref(),
        Some("containerd.services.namespaces.v1.CreateNamespaceRequest")
    );
    assert_eq!(
        d.text,
        r#"namespace:{name:"snoop" labels:{key:"a" value:"b"}}"#
    );
    assert_eq!(d.json["namespace"]["name"], "snoop");
    assert_eq!(d.json["namespace"]["labels"]["a"], "b");

    // The same bytes as a response are read with the response type.
    let r = s.decode(Some(NS_CREATE), false, &payload);
    assert_eq!(
        r.type_name.as_deref(),
        Some("containerd.services.namespaces.v1.CreateNamespaceResponse")
    );
}

#[test]
fn json_follows_proto3_mapping() {
    let s = Schemas::embedded();
    let name = "runtime.v1.ContainerStatus";
    let payload = encode(
        &s,
        name,
        r#"id: "c1" state: CONTAINER_EXITED created_at: 1700000000000000000
           exit_code: 137 labels { key: "io.kubernetes.pod.name" value: "web" }"#,
    );
    let d = s.decode_as(name, &payload, Forms::BOTH);
    assert_eq!(d.schema, SchemaUse::Typed);
    assert_eq!(d.json["id"], "c1");
    assert_eq!(d.json["state"], "CONTAINER_EXITED");
    // int64 as a string, json_name in lowerCamelCase.
    assert_eq!(d.json["createdAt"], "1700000000000000000");
    assert_eq!(d.json["exitCode"], 137);
    assert!(d.text.contains("state:CONTAINER_EXITED"), "{}", d.text);
    assert!(
        d.text.contains("created_at:1700000000000000000"),
        "{}",
        d.text
    );

    // Where nothing is cut, our JSON equals prost-reflect's serde output.
    let desc = s.pool().get_message_by_name(name).unwrap();
    let msg = DynamicMessage::decode(desc, payload.as_slice()).unwrap();
    assert_eq!(d.json, serde_json::to_value(&msg).unwrap());
}

#[test]
fn well_known_types_use_their_json_form() {
    let s = Schemas::embedded();
    let name = "containerd.services.containers.v1.Container";
    let payload = encode(
        &s,
        name,
        r#"id: "c" created_at { seconds: 1700000000 nanos: 5000000 }"#,
    );
    let d = s.decode_as(name, &payload, Forms::BOTH);
    assert_eq!(d.json["createdAt"], "2023-11-14T22:13:20.005Z");
    assert!(d
        .text
        .contains("created_at:{seconds:1700000000 nanos:5000000}"));
}

#[test]
fn any_payloads_are_decoded_inline() {
    let s = Schemas::embedded();
    let exit = encode(
        &s,
        "containerd.events.TaskExit",
        r#"container_id: "c1" pid: 42 exit_status: 137"#,
    );
    let envelope = s
        .pool()
        .get_message_by_name("containerd.services.events.v1.Envelope")
        .unwrap();
    let mut any = DynamicMessage::new(s.pool().get_message_by_name("google.protobuf.Any").unwrap());
    any.set_field_by_name(
        "type_url",
        PValue::String("containerd.events.TaskExit".into()),
    );
    any.set_field_by_name("value", PValue::Bytes(exit.into()));
    let mut env = DynamicMessage::new(envelope);
    env.set_field_by_name("topic", PValue::String("/tasks/exit".into()));
    env.set_field_by_name("event", PValue::Message(any.clone()));
    let payload = env.encode_to_vec();

    let d = s.decode(
        Some("/containerd.services.events.v1.Events/Subscribe"),
        false,
        &payload,
    );
    assert_eq!(d.schema, SchemaUse::Typed);
    assert!(
        d.text.contains(
            r#"event:{[containerd.events.TaskExit]:{container_id:"c1" pid:42 exit_status:137}}"#
        ),
        "{}",
        d.text
    );
    assert_eq!(d.json["event"]["@type"], "containerd.events.TaskExit");
    assert_eq!(d.json["event"]["containerId"], "c1");
    assert_eq!(d.json["event"]["pid"], 42);

    // An Any of a type outside the pool: its bytes schema-less.
    any.set_field_by_name(
        "type_url",
        PValue::String("types.containerd.io/opencontainers/runtime-spec/1/Spec".into()),
    );
    any.set_field_by_name(
        "value",
        PValue::Bytes(b"{\"ociVersion\":\"1.0.2\"}"[..].into()),
    );
    env.set_field_by_name("event", PValue::Message(any));
    let d = s.decode(
        Some("/containerd.services.events.v1.Events/Subscribe"),
        false,
        &env.encode_to_vec(),
    );
    assert!(
        d.text.contains(r#"value:"{\"ociVersion\":\"1.0.2\"}""#),
        "{}",
        d.text
    );
    assert_eq!(d.json["event"]["value"], r#"{"ociVersion":"1.0.2"}"#);
}

#[test]
fn unknown_method_is_schema_less() {
    let s = Schemas::embedded();
    // 1:"ctr" 2:{1:42} 3:bytes(1f 2e) 4:fixed32 5:fixed64 1:"x"
    let payload = [
        0x0a, 3, b'c', b't', b'r', 0x12, 2, 0x08, 42, 0x1a, 2, 0x1f, 0x2e, 0x25, 1, 0, 0, 0, 0x29,
        2, 0, 0, 0, 0, 0, 0, 0, 0x0a, 1, b'x',
    ];
    for path in [None, Some("/unknown.v1.Svc/Call")] {
        let d = s.decode(path, true, &payload);
        assert_eq!(d.schema, SchemaUse::SchemaLess);
        assert_eq!(d.type_name, None);
        assert_eq!(
            d.text,
            r#"1:"ctr" 2:{1:42} 3:0x1f2e 4:0x00000001 5:0x0000000000000002 1:"x""#
        );
        assert_eq!(
            d.json,
            json!({"1": ["ctr", "x"], "2": {"1": 42}, "3": "0x1f2e", "4": 1, "5": 2})
        );
    }
}

#[test]
fn bytes_that_do_not_fit_the_schema_fall_back() {
    let s = Schemas::embedded();
    // Field 1 (namespace, a message) sent as a varint: wrong wire type.
    let d = s.decode(Some(NS_CREATE), true, &[0x08, 0x01]);
    assert_eq!(d.schema, SchemaUse::SchemaLess);
    assert_eq!(d.text, "1:1");
    // Not protobuf at all: a group start.
    let d = s.decode(Some("/x.Y/Z"), true, &[0x0b, 0xff]);
    assert_eq!(d.schema, SchemaUse::Invalid);
    assert_eq!(d.text, "0x0bff");
    assert_eq!(d.json, json!("0x0bff"));
    // Empty payloads are empty messages.
    let d = s.decode(Some(NS_CREATE), true, &[]);
    assert_eq!((d.schema, d.text.as_str()), (SchemaUse::Typed, ""));
    assert_eq!(s.decode(None, true, &[]).json, json!({}));
}

#[test]
fn only_the_forms_asked_for_are_built() {
    let s = Schemas::embedded();
    for path in [Some(NS_CREATE), None] {
        let payload = [0x0a, 7, 0x0a, 5, b's', b'n', b'o', b'o', b'p'];
        let both = s.decode(path, true, &payload);
        let text = s.decode_forms(path, true, &payload, Forms::TEXT);
        let json = s.decode_forms(path, true, &payload, Forms::JSON);
        assert_eq!((text.text, text.json), (both.text, serde_json::Value::Null));
        assert_eq!((json.text, json.json), (String::new(), both.json));
        assert_eq!((text.schema, json.schema), (both.schema, both.schema));
    }
}

#[test]
fn unknown_fields_of_typed_messages_are_shown() {
    let s = Schemas::embedded();
    let mut payload = encode(
        &s,
        "containerd.services.namespaces.v1.GetNamespaceRequest",
        r#"name: "k8s.io""#,
    );
    payload.extend_from_slice(&[0xf8, 0x06, 7]); // field 111 = 7
    let d = s.decode(
        Some("/containerd.services.namespaces.v1.Namespaces/Get"),
        true,
        &payload,
    );
    assert_eq!(d.schema, SchemaUse::Typed);
    assert_eq!(d.text, r#"name:"k8s.io" 111:7"#);
}

#[test]
fn random_bytes_never_panic() {
    let s = Schemas::embedded();
    let paths = [
        None,
        Some(NS_CREATE),
        Some(CONTENT_WRITE),
        Some("/containerd.services.events.v1.Events/Subscribe"),
        Some("/runtime.v1.RuntimeService/CreateContainer"),
        Some("/runtime.v1.RuntimeService/CreateContainer"),
    ];
    let valid = encode(
        &s,
        "runtime.v1.CreateContainerRequest",
        r#"pod_sandbox_id: "abc" config { metadata { name: "web" } image { image: "nginx" }
           envs { key: "A" value: "1" } labels { key: "k" value: "v" }
           linux { security_context { namespace_options { network: NODE } } } }"#,
    );
    let mut rng = Rng::new(1);
    for i in 0..10_000 {
        let mut bytes = if i % 4 == 3 {
            // A real message with a few bytes changed and maybe cut short.
            let mut b = valid.clone();
            for _ in 0..1 + rng.next_u64() % 4 {
                let at = (rng.next_u64() as usize) % b.len();
                b[at] = rng.next_u64() as u8;
            }
            b.truncate(b.len() - (rng.next_u64() as usize) % 8);
            b
        } else {
            let len = (rng.next_u64() % 96) as usize;
            rng.bytes(len)
        };
        // Mostly valid-looking keys, so that decoding gets past byte one.
        if i % 2 == 0 && !bytes.is_empty() {
            bytes[0] = (bytes[0] & 0xf8) | [0, 2, 5][i % 3];
        }
        let d = s.decode(paths[i % paths.len()], i % 3 == 0, &bytes);
        assert!(d.text.len() <= TEXT_CAP + 4);
    }
}

#[test]
fn nesting_is_cut_at_max_depth() {
    // 1:{1:{1:{...{1:"leaf!"}...}}} nested 40 deep.
    let mut payload = b"leaf!".to_vec();
    for _ in 0..40 {
        let mut outer = vec![0x0a];
        let mut len = payload.len();
        while len >= 0x80 {
            outer.push((len as u8) | 0x80);
            len >>= 7;
        }
        outer.push(len as u8);
        outer.extend_from_slice(&payload);
        payload = outer;
    }
    let d = Schemas::embedded().decode(None, true, &payload);
    assert_eq!(d.schema, SchemaUse::SchemaLess);
    assert_eq!(d.text.matches('{').count(), MAX_DEPTH);
    assert!(d.text.contains("{…}"));
    assert!(!d.text.contains("leaf"));
}

#[test]
fn output_is_capped() {
    // 100k fields of a 20-byte string: 2.2 MB on the wire.
    let mut payload = Vec::new();
    for _ in 0..100_000 {
        payload.extend_from_slice(&[0x0a, 20]);
        payload.extend_from_slice(b"abcdefghijklmnopqrst");
    }
    let d = Schemas::embedded().decode(None, true, &payload);
    assert!(d.text.len() <= TEXT_CAP + '…'.len_utf8());
    assert!(d.text.ends_with('…'));
    let json_len = d.json.to_string().len();
    assert!(json_len < 2 * JSON_CAP, "{json_len}");
    assert_eq!(d.json["…"], "truncated");

    // One long string: cut with its length.
    let long = "x".repeat(10_000);
    let mut payload = vec![0x0a, 0x90, 0x4e];
    payload.extend_from_slice(long.as_bytes());
    let d = Schemas::embedded().decode(None, true, &payload);
    assert_eq!(
        d.text,
        format!("1:\"{}\"…(10000 bytes)", "x".repeat(STRING_CAP))
    );
}

fn content_write(s: &Schemas, data: Vec<u8>) -> Vec<u8> {
    let desc = s
        .pool()
        .get_message_by_name("containerd.services.content.v1.WriteContentRequest")
        .unwrap();
    let mut msg = DynamicMessage::parse_text_format(
        desc,
        r#"action: WRITE ref: "k8s.io/1/layer-sha256:ab" offset: 4096"#,
    )
    .unwrap();
    msg.set_field_by_name("data", PValue::Bytes(data.into()));
    msg.encode_to_vec()
}

#[test]
fn large_bytes_are_cut() {
    let s = Schemas::embedded();
    let mut rng = Rng::new(7);
    let mut data = rng.bytes(1 << 20);
    data[0] = 0xff; // surely not UTF-8
    let d = s.decode(Some(CONTENT_WRITE), true, &content_write(&s, data.clone()));
    assert_eq!(d.schema, SchemaUse::Typed);
    let hex: String = data[..BYTES_CAP]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        d.text.ends_with(&format!("data:0x{hex}…(1048576 bytes)")),
        "{}",
        d.text
    );
    assert!(d.text.len() < 400, "{}", d.text.len());
    let data_json = d.json["data"].as_str().unwrap();
    assert!(data_json.ends_with("…(1048576 bytes)"));
    assert!(data_json.len() < 6000);

    // Printable data (a manifest being written) shows as a string.
    let d = s.decode(
        Some(CONTENT_WRITE),
        true,
        &content_write(&s, br#"{"schemaVersion":2}"#.to_vec()),
    );
    assert!(
        d.text.contains(r#"data:"{\"schemaVersion\":2}""#),
        "{}",
        d.text
    );
}

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
