//! Decoding with a schema: the embedded methods, text and JSON, Any, the forms asked for.

use super::*;

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
