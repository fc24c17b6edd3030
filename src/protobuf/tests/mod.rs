//! Tests of the schemas and the decoder, one file per concern; here the
//! method paths and the encoder they share.

mod caps;
mod extra_schemas;
mod schema_less;
mod typed;

use prost::Message;
use prost_reflect::{DynamicMessage, Value as PValue};

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
