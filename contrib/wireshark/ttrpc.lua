-- SPDX-License-Identifier: GPL-2.0-only
--
-- Wireshark dissector for ttrpc, the RPC protocol between containerd and its
-- shims, as containerdsnoop writes it: every AF_UNIX connection becomes a
-- synthetic TCP connection, and ttrpc connections use server port 7 (port 81
-- in files written before containerdsnoop moved them there).
--
--   wireshark -X lua_script:contrib/wireshark/ttrpc.lua capture.pcapng
--
-- See README.md beside this file for the protobuf preferences that make the
-- inner messages show field by field.
--
-- Wire format: a stream of frames, each a 10-byte big-endian header
--   length u32 | stream id u32 | type u8 | flags u8
-- followed by `length` bytes (at most 4 MiB). Requests and responses carry
-- protobuf envelopes (ttrpc.Request, ttrpc.Response) whose `payload` is the
-- method's own message; data frames (streaming, ttrpc 1.1+) carry the
-- method's message directly, with no envelope.
--
-- Message types: the inner payload is handed to Wireshark's protobuf
-- dissector with pinfo.private["pb_msg_type"] set to
-- "application/grpc,/<service>/<method>,request" (or ",response"). In that
-- form the protobuf dissector looks the method up in the service definitions
-- it loaded from its search path and picks the method's input or output type
-- itself (the same path its gRPC caller uses). This is more robust than a
-- method -> type table generated into this file: whatever .proto files the
-- user loads (this repository's proto/, CRI, a custom shim's API) resolve
-- without regenerating anything, the table can never drift from the schemas
-- Wireshark actually uses, and a method no schema knows is still dissected
-- as untyped protobuf (raw field numbers).

local ttrpc = Proto("ttrpc", "ttrpc (containerd RPC)")

local HEADER_LEN = 10
local MAX_LENGTH = 4 * 1024 * 1024

local TYPE_REQUEST, TYPE_RESPONSE, TYPE_DATA = 1, 2, 3
local type_names = { [1] = "Request", [2] = "Response", [3] = "Data" }

local FLAG_REMOTE_CLOSED, FLAG_REMOTE_OPEN, FLAG_NO_DATA = 0x01, 0x02, 0x04

-- google.rpc.Code, the codes ttrpc statuses use (same as gRPC).
local status_names = {
    [0] = "OK", [1] = "CANCELLED", [2] = "UNKNOWN", [3] = "INVALID_ARGUMENT",
    [4] = "DEADLINE_EXCEEDED", [5] = "NOT_FOUND", [6] = "ALREADY_EXISTS",
    [7] = "PERMISSION_DENIED", [8] = "RESOURCE_EXHAUSTED",
    [9] = "FAILED_PRECONDITION", [10] = "ABORTED", [11] = "OUT_OF_RANGE",
    [12] = "UNIMPLEMENTED", [13] = "INTERNAL", [14] = "UNAVAILABLE",
    [15] = "DATA_LOSS", [16] = "UNAUTHENTICATED",
}

local NAMESPACE_KEY = "containerd-namespace-ttrpc"

-- Shims send their events to containerd with this method; the event itself
-- is a google.protobuf.Any, which Wireshark 4.0's protobuf dissector leaves
-- as bytes, so this dissector decodes it by its type URL.
local FORWARD_PATH = "/containerd.services.events.ttrpc.v1.Events/Forward"

---------------------------------------------------------------------------
-- Fields

local pf = {
    length = ProtoField.uint32("ttrpc.length", "Length", base.DEC),
    stream_id = ProtoField.uint32("ttrpc.stream_id", "Stream ID", base.DEC),
    type = ProtoField.uint8("ttrpc.type", "Type", base.DEC, type_names),
    flags = ProtoField.uint8("ttrpc.flags", "Flags", base.HEX),
    flag_remote_closed = ProtoField.bool("ttrpc.flags.remote_closed", "Remote closed", 8, nil, FLAG_REMOTE_CLOSED),
    flag_remote_open = ProtoField.bool("ttrpc.flags.remote_open", "Remote open", 8, nil, FLAG_REMOTE_OPEN),
    flag_no_data = ProtoField.bool("ttrpc.flags.no_data", "No data", 8, nil, FLAG_NO_DATA),
    flag_unknown = ProtoField.uint8("ttrpc.flags.unknown", "Unknown flags", base.HEX, nil, 0xf8),

    service = ProtoField.string("ttrpc.service", "Service"),
    method = ProtoField.string("ttrpc.method", "Method"),
    method_path = ProtoField.string("ttrpc.method_path", "Method path"),
    timeout = ProtoField.int64("ttrpc.timeout_nano", "Timeout (ns)", base.DEC),
    metadata = ProtoField.none("ttrpc.metadata", "Metadata"),
    metadata_key = ProtoField.string("ttrpc.metadata.key", "Key"),
    metadata_value = ProtoField.string("ttrpc.metadata.value", "Value"),
    namespace = ProtoField.string("ttrpc.namespace", "Namespace"),

    status = ProtoField.none("ttrpc.status", "Status"),
    status_code = ProtoField.int32("ttrpc.status_code", "Status code", base.DEC, status_names),
    status_message = ProtoField.string("ttrpc.status_message", "Status message"),
    status_detail = ProtoField.bytes("ttrpc.status_detail", "Status detail"),
    status_detail_type = ProtoField.string("ttrpc.status_detail_type", "Detail type URL"),

    payload = ProtoField.bytes("ttrpc.payload", "Payload"),
    event = ProtoField.none("ttrpc.event", "Forwarded event"),
    event_topic = ProtoField.string("ttrpc.event.topic", "Topic"),
    event_type = ProtoField.string("ttrpc.event.type", "Event type URL"),
    unknown_field = ProtoField.bytes("ttrpc.unknown_field", "Unknown field"),
    garbage = ProtoField.bytes("ttrpc.garbage", "Undecodable bytes"),

    request_in = ProtoField.framenum("ttrpc.request_in", "Request in", base.NONE, frametype.REQUEST),
    response_in = ProtoField.framenum("ttrpc.response_in", "Response in", base.NONE, frametype.RESPONSE),
    time = ProtoField.relative_time("ttrpc.time", "Time since request"),
    from_client = ProtoField.bool("ttrpc.from_client", "Sent by the client"),
}

ttrpc.fields = {
    pf.length, pf.stream_id, pf.type, pf.flags, pf.flag_remote_closed,
    pf.flag_remote_open, pf.flag_no_data, pf.flag_unknown, pf.service,
    pf.method, pf.method_path, pf.timeout, pf.metadata, pf.metadata_key,
    pf.metadata_value, pf.namespace, pf.status, pf.status_code,
    pf.status_message, pf.status_detail, pf.status_detail_type, pf.payload,
    pf.event, pf.event_topic, pf.event_type,
    pf.unknown_field, pf.garbage, pf.request_in, pf.response_in, pf.time,
    pf.from_client,
}

local ef = {
    bad_length = ProtoExpert.new("ttrpc.bad_length", "Frame length over the 4 MiB maximum",
        expert.group.MALFORMED, expert.severity.ERROR),
    unknown_type = ProtoExpert.new("ttrpc.unknown_type", "Unknown frame type",
        expert.group.MALFORMED, expert.severity.ERROR),
    bad_protobuf = ProtoExpert.new("ttrpc.bad_protobuf", "Malformed protobuf envelope",
        expert.group.MALFORMED, expert.severity.ERROR),
    truncated = ProtoExpert.new("ttrpc.truncated", "Frame cut short (reassembly off or data missing)",
        expert.group.MALFORMED, expert.severity.ERROR),
    internal = ProtoExpert.new("ttrpc.internal_error", "Dissector error",
        expert.group.MALFORMED, expert.severity.ERROR),
    even_stream = ProtoExpert.new("ttrpc.even_stream_id", "Client stream IDs are odd",
        expert.group.PROTOCOL, expert.severity.WARN),
    unexpected_data = ProtoExpert.new("ttrpc.unexpected_data", "Frame flagged no-data carries data",
        expert.group.PROTOCOL, expert.severity.WARN),
    no_request = ProtoExpert.new("ttrpc.no_request", "The request of this stream was not seen",
        expert.group.SEQUENCE, expert.severity.NOTE),
    status_error = ProtoExpert.new("ttrpc.status_error", "Call failed",
        expert.group.RESPONSE_CODE, expert.severity.NOTE),
}

ttrpc.experts = {
    ef.bad_length, ef.unknown_type, ef.bad_protobuf, ef.truncated, ef.internal,
    ef.even_stream, ef.unexpected_data, ef.no_request,
    ef.status_error,
}

---------------------------------------------------------------------------
-- Preferences

-- containerdsnoop puts ttrpc servers on port 7 (Echo): without this
-- dissector, Wireshark's Echo dissector takes those bytes whole, so none of
-- its heuristic dissectors can claim them. Files written before used 81,
-- which stays registered.
local DEFAULT_PORT = 7
local LEGACY_PORT = 81
ttrpc.prefs.port = Pref.uint("Server TCP port", DEFAULT_PORT,
    "TCP port of the server side of ttrpc connections (containerdsnoop uses 7; "
    .. "port 81, which it used before, is always dissected too)")
ttrpc.prefs.protobuf = Pref.bool("Dissect payloads as protobuf", true,
    "Hand request, response and data payloads to the protobuf dissector, "
    .. "typed by the method when its schema is on the protobuf search path")

---------------------------------------------------------------------------
-- State across packets.
--
-- Conversations are keyed by their two endpoints. (TCP's stream index would
-- be nicer, but as a tree field it is not there in tshark's first pass when
-- no tree is built: `tshark -2` without a filter.) A request whose stream ID
-- is not above the last one on the same endpoints starts a new generation:
-- ttrpc client stream IDs only increase on a connection, so that is the
-- endpoints reused by a new connection.
--
-- Everything a frame needs from other frames is worked out the first time it
-- is dissected and kept per packet (`frames`), so later passes (tshark -2,
-- clicking around in Wireshark) show the same thing whatever order they
-- visit packets in.

local conversations -- endpoints key -> { streams = {id -> call}, last_id, client }
local frames        -- packet number -> { [n-th ttrpc frame in packet] = info }

local function reset_state()
    conversations = {}
    frames = {}
end
reset_state()
-- Called when a capture is (re)loaded.
ttrpc.init = reset_state

local function endpoints(pinfo)
    local a = tostring(pinfo.src) .. ":" .. tostring(pinfo.src_port)
    local b = tostring(pinfo.dst) .. ":" .. tostring(pinfo.dst_port)
    if a < b then
        return a .. " " .. b, a
    end
    return b .. " " .. a, a
end

-- Per-packet scratch that survives several calls of the dissector for one
-- packet (reassembled PDU, then the rest of the segment) but not the packet:
-- pinfo.private is new for every packet. Values are strings.
local function private_get(pinfo, k)
    return pinfo.private[k]
end

local function private_set(pinfo, k, v)
    pinfo.private[k] = v
end

---------------------------------------------------------------------------
-- Protobuf reading (only what the envelopes need). All reads are bounds
-- checked against `limit`, so bad bytes never raise a Lua error.

-- A varint at `offset`: returns value, next offset. Values below 2^49 come
-- back as Lua numbers, larger ones as UInt64.
local function read_varint(tvb, offset, limit)
    local n, mult = 0, 1
    local i = 0
    while offset + i < limit and i < 7 do
        local b = tvb(offset + i, 1):uint()
        n = n + (b % 128) * mult
        i = i + 1
        if b < 128 then
            return n, offset + i
        end
        mult = mult * 128
    end
    if offset + i >= limit then
        return nil
    end
    -- Long varint: continue in 64 bits.
    local u = UInt64(n)
    local shift = 49
    while offset + i < limit and i < 10 do
        local b = tvb(offset + i, 1):uint()
        u = u:bor(UInt64(b % 128):lshift(shift))
        i = i + 1
        if b < 128 then
            return u, offset + i
        end
        shift = shift + 7
    end
    return nil
end

-- The fields of a message in [offset, limit): a list of
-- { num, wire, start, len, voff, vlen, value }. On bad bytes the list holds
-- the fields before them and the second result is where they start.
local function read_fields(tvb, offset, limit)
    local list = {}
    while offset < limit do
        local start = offset
        local tag, o = read_varint(tvb, offset, limit)
        if type(tag) ~= "number" then
            return list, start
        end
        local num, wire = math.floor(tag / 8), tag % 8
        if num == 0 then
            return list, start
        end
        local f = { num = num, wire = wire, start = start }
        if wire == 0 then
            local v, o2 = read_varint(tvb, o, limit)
            if v == nil then
                return list, start
            end
            f.value, f.voff, f.vlen, o = v, o, o2 - o, o2
        elseif wire == 1 or wire == 5 then
            local size = (wire == 1) and 8 or 4
            if o + size > limit then
                return list, start
            end
            f.voff, f.vlen, o = o, size, o + size
        elseif wire == 2 then
            local n, o2 = read_varint(tvb, o, limit)
            if type(n) ~= "number" or o2 + n > limit then
                return list, start
            end
            f.voff, f.vlen, o = o2, n, o2 + n
        else
            return list, start -- groups (3, 4) and 6, 7 do not occur here
        end
        f.len = o - start
        list[#list + 1] = f
        offset = o
    end
    return list, nil
end

local function field_string(tvb, f)
    if f.vlen == 0 then
        return ""
    end
    return tvb(f.voff, f.vlen):string(ENC_UTF_8)
end

-- A varint field as a signed 64-bit value (Int64 or number).
local function as_int64(v)
    if type(v) == "number" then
        return Int64(v)
    end
    return Int64(v:lower(), v:higher())
end

-- A varint field as int32 (protobuf keeps the low 32 bits).
local function as_int32(v)
    local low
    if type(v) == "number" then
        low = v % 4294967296
    else
        low = v:lower()
    end
    if low >= 2147483648 then
        return low - 4294967296
    end
    return low
end

---------------------------------------------------------------------------
-- Handing payloads to the protobuf dissector.

local protobuf_dissector = Dissector.get("protobuf")

-- `kind` is "request" or "response" (which of the method's types), or a
-- full message type name for "message,<name>".
local function call_protobuf(tvb, pinfo, tree, path, kind, message)
    if not ttrpc.prefs.protobuf or protobuf_dissector == nil then
        return
    end
    local msg_type
    if message then
        msg_type = "message," .. message
    elseif path then
        msg_type = "application/grpc," .. path .. "," .. kind
    end
    -- pinfo.private["pb_msg_type"] is how Lua callers name the type for the
    -- protobuf dissector (they cannot pass its data argument); see the
    -- comments of dissect_protobuf() in Wireshark's packet-protobuf.c.
    private_set(pinfo, "pb_msg_type", msg_type)
    local ok = pcall(protobuf_dissector.call, protobuf_dissector, tvb, pinfo, tree)
    private_set(pinfo, "pb_msg_type", nil)
    -- On failure the protobuf dissector has already marked the tree.
    return ok
end

local function add_payload(tvb, f, pinfo, tree, path, kind, message)
    local item = tree:add(pf.payload, tvb(f.voff, f.vlen))
    if f.vlen > 0 then
        call_protobuf(tvb(f.voff, f.vlen):tvb(), pinfo, item, path, kind, message)
    end
    return item
end

-- Flags a message that stops parsing at `at` and shows its undecodable rest.
local function bad_envelope(tvb, at, limit, item, what)
    item:add_proto_expert_info(ef.bad_protobuf, "Malformed protobuf in " .. what)
    if at < limit then
        item:add(pf.garbage, tvb(at, limit - at))
    end
end

local function unknown_field(tvb, f, tree)
    tree:add(pf.unknown_field, tvb(f.start, f.len))
        :append_text(string.format(" (field %d, wire type %d)", f.num, f.wire))
end

-- Events.Forward: ForwardRequest {1: Envelope {3: topic, 4: Any event}},
-- Any {1: type_url, 2: value}. Returns the topic.
local function dissect_forwarded_event(tvb, f, pinfo, tree)
    local outer = read_fields(tvb, f.voff, f.voff + f.vlen)
    for _, env in ipairs(outer) do
        if env.num == 1 and env.wire == 2 then
            local topic, type_url, value
            local ev = tree:add(pf.event, tvb(env.voff, env.vlen))
            ev:set_generated()
            for _, e in ipairs((read_fields(tvb, env.voff, env.voff + env.vlen))) do
                if e.num == 3 and e.wire == 2 then
                    topic = field_string(tvb, e)
                    ev:add(pf.event_topic, tvb(e.voff, e.vlen), topic)
                elseif e.num == 4 and e.wire == 2 then
                    for _, a in ipairs((read_fields(tvb, e.voff, e.voff + e.vlen))) do
                        if a.num == 1 and a.wire == 2 then
                            type_url = field_string(tvb, a)
                            ev:add(pf.event_type, tvb(a.voff, a.vlen), type_url)
                        elseif a.num == 2 and a.wire == 2 then
                            value = a
                        end
                    end
                end
            end
            ev:append_text(string.format(": %s (%s)", topic or "?", type_url or "?"))
            if value and value.vlen > 0 and type_url then
                call_protobuf(tvb(value.voff, value.vlen):tvb(), pinfo, ev, nil, nil,
                    type_url:match("([^/]*)$"))
            end
            return topic
        end
    end
end

---------------------------------------------------------------------------
-- Frame bodies

-- ttrpc.Request. Returns the call record (service, method, path,
-- namespace, topic); path is nil when neither service nor method is there.
local function dissect_request(tvb, offset, limit, pinfo, tree)
    local call = {}
    local fields, bad = read_fields(tvb, offset, limit)
    local payload_field
    for _, f in ipairs(fields) do
        if f.num == 1 and f.wire == 2 then
            call.service = field_string(tvb, f)
            tree:add(pf.service, tvb(f.voff, f.vlen), call.service)
        elseif f.num == 2 and f.wire == 2 then
            call.method = field_string(tvb, f)
            tree:add(pf.method, tvb(f.voff, f.vlen), call.method)
        elseif f.num == 3 and f.wire == 2 then
            payload_field = f
        elseif f.num == 4 and f.wire == 0 then
            local ns = as_int64(f.value)
            tree:add(pf.timeout, tvb(f.voff, f.vlen), ns)
                :append_text(string.format(" (%g s)", tonumber(tostring(ns)) / 1e9))
        elseif f.num == 5 and f.wire == 2 then
            local md = tree:add(pf.metadata, tvb(f.start, f.len))
            local kvs, kbad = read_fields(tvb, f.voff, f.voff + f.vlen)
            local key, value
            for _, kv in ipairs(kvs) do
                if kv.num == 1 and kv.wire == 2 then
                    key = field_string(tvb, kv)
                    md:add(pf.metadata_key, tvb(kv.voff, kv.vlen), key)
                elseif kv.num == 2 and kv.wire == 2 then
                    value = field_string(tvb, kv)
                    md:add(pf.metadata_value, tvb(kv.voff, kv.vlen), value)
                    if key == NAMESPACE_KEY then
                        call.namespace = value
                        md:add(pf.namespace, tvb(kv.voff, kv.vlen), value)
                    end
                else
                    unknown_field(tvb, kv, md)
                end
            end
            md:append_text(string.format(": %s = %s", key or "?", value or ""))
            if kbad then
                bad_envelope(tvb, kbad, f.voff + f.vlen, md, "metadata")
            end
        else
            unknown_field(tvb, f, tree)
        end
    end
    if bad then
        bad_envelope(tvb, bad, limit, tree, "Request")
    end
    if call.service or call.method then
        call.service = call.service or ""
        call.method = call.method or ""
        call.path = "/" .. call.service .. "/" .. call.method
        tree:add(pf.method_path, tvb(offset, limit - offset), call.path):set_generated()
    end
    if payload_field then
        add_payload(tvb, payload_field, pinfo, tree, call.path, "request")
        if call.path == FORWARD_PATH then
            call.topic = dissect_forwarded_event(tvb, payload_field, pinfo, tree)
        end
    end
    return call
end

-- ttrpc.Response. Returns status code (or nil), status message.
local function dissect_response(tvb, offset, limit, pinfo, tree, call)
    local fields, bad = read_fields(tvb, offset, limit)
    local code, message
    local payload_field
    for _, f in ipairs(fields) do
        if f.num == 1 and f.wire == 2 then
            local st = tree:add(pf.status, tvb(f.start, f.len))
            local sfields, sbad = read_fields(tvb, f.voff, f.voff + f.vlen)
            local code_item
            for _, sf in ipairs(sfields) do
                if sf.num == 1 and sf.wire == 0 then
                    code = as_int32(sf.value)
                    code_item = st:add(pf.status_code, tvb(sf.voff, sf.vlen), code)
                elseif sf.num == 2 and sf.wire == 2 then
                    message = field_string(tvb, sf)
                    st:add(pf.status_message, tvb(sf.voff, sf.vlen), message)
                elseif sf.num == 3 and sf.wire == 2 then
                    -- google.protobuf.Any details
                    local d = st:add(pf.status_detail, tvb(sf.voff, sf.vlen))
                    local type_url
                    for _, a in ipairs((read_fields(tvb, sf.voff, sf.voff + sf.vlen))) do
                        if a.num == 1 and a.wire == 2 then
                            type_url = field_string(tvb, a)
                            d:add(pf.status_detail_type, tvb(a.voff, a.vlen), type_url)
                            d:append_text(" (" .. type_url .. ")")
                        elseif a.num == 2 and a.wire == 2 and type_url and a.vlen > 0 then
                            call_protobuf(tvb(a.voff, a.vlen):tvb(), pinfo, d, nil, nil,
                                type_url:match("([^/]*)$"))
                        end
                    end
                else
                    unknown_field(tvb, sf, st)
                end
            end
            if sbad then
                bad_envelope(tvb, sbad, f.voff + f.vlen, st, "Status")
            end
            if code == nil then
                -- proto3 leaves out a zero code: show the OK it means.
                code = 0
                code_item = st:add(pf.status_code, tvb(f.voff, f.vlen), 0)
                code_item:set_generated()
            end
            st:append_text(": " .. (status_names[code] or tostring(code)))
            if message and message ~= "" then
                st:append_text(" (" .. message .. ")")
            end
            if code ~= 0 then
                code_item:add_proto_expert_info(ef.status_error,
                    "Call failed: " .. (status_names[code] or tostring(code))
                    .. ((message and message ~= "") and (": " .. message) or ""))
            end
        elseif f.num == 2 and f.wire == 2 then
            payload_field = f
        else
            unknown_field(tvb, f, tree)
        end
    end
    if bad then
        bad_envelope(tvb, bad, limit, tree, "Response")
    elseif code == nil then
        -- containerd 1.6's shims (gogo-generated ttrpc) leave the status out
        -- of every OK response; Go's status.FromProto(nil) reads it as OK.
        code = 0
        local item = tree:add(pf.status_code, tvb(offset, 0), 0)
        item:set_generated()
        item:append_text(" (no status sent)")
    end
    if payload_field then
        add_payload(tvb, payload_field, pinfo, tree, call and call.path, "response")
    end
    return code, message
end

-- The generated items that tie a response or data frame to its request.
local function add_call_items(tvb, tree, call, frame_type, pinfo)
    local range = tvb(0, 0)
    local items = {}
    if call.service then
        items[#items + 1] = tree:add(pf.service, range, call.service)
        items[#items + 1] = tree:add(pf.method, range, call.method)
        items[#items + 1] = tree:add(pf.method_path, range, call.path)
    end
    if call.namespace then
        items[#items + 1] = tree:add(pf.namespace, range, call.namespace)
    end
    if call.request_frame then
        items[#items + 1] = tree:add(pf.request_in, range, call.request_frame)
        if frame_type == TYPE_RESPONSE and call.request_ts then
            -- pinfo.abs_ts is a double (about 0.2 us apart at today's
            -- epoch times): keep whole microseconds.
            local us = math.floor((pinfo.abs_ts - call.request_ts) * 1e6 + 0.5)
            if us < 0 then us = 0 end
            items[#items + 1] = tree:add(pf.time, range,
                NSTime(math.floor(us / 1e6), (us % 1000000) * 1000))
        end
    end
    for _, i in ipairs(items) do
        i:set_generated()
    end
end

---------------------------------------------------------------------------
-- One frame: header at `offset`, `length` body bytes available.

local function flag_names(flags)
    local names = {}
    if bit32.band(flags, FLAG_REMOTE_CLOSED) ~= 0 then names[#names + 1] = "remote closed" end
    if bit32.band(flags, FLAG_REMOTE_OPEN) ~= 0 then names[#names + 1] = "remote open" end
    if bit32.band(flags, FLAG_NO_DATA) ~= 0 then names[#names + 1] = "no data" end
    if bit32.band(flags, 0xf8) ~= 0 then names[#names + 1] = string.format("0x%02x", bit32.band(flags, 0xf8)) end
    return table.concat(names, ", ")
end

local function add_header(tvb, offset, tree)
    tree:add(pf.length, tvb(offset, 4))
    tree:add(pf.stream_id, tvb(offset + 4, 4))
    local ftype = tvb(offset + 8, 1):uint()
    local type_item = tree:add(pf.type, tvb(offset + 8, 1))
    local flags = tvb(offset + 9, 1):uint()
    local fi = tree:add(pf.flags, tvb(offset + 9, 1))
    local names = flag_names(flags)
    if names ~= "" then
        fi:append_text(" (" .. names .. ")")
    end
    fi:add(pf.flag_remote_closed, tvb(offset + 9, 1))
    fi:add(pf.flag_remote_open, tvb(offset + 9, 1))
    fi:add(pf.flag_no_data, tvb(offset + 9, 1))
    if bit32.band(flags, 0xf8) ~= 0 then
        fi:add(pf.flag_unknown, tvb(offset + 9, 1))
    end
    return type_item
end

-- Works out (first pass) or recalls (later passes) what this frame needs
-- from the conversation: its call record and who sent it.
local function frame_context(pinfo, index, stream_id, ftype)
    local per_packet = frames[pinfo.number]
    if pinfo.visited and per_packet and per_packet[index] then
        return per_packet[index]
    end
    local key, src = endpoints(pinfo)
    local conv = conversations[key]
    local ctx = {}
    if ftype == TYPE_REQUEST then
        if conv == nil or (conv.last_id and stream_id <= conv.last_id) then
            conv = { streams = {} }
            conversations[key] = conv
        end
        conv.last_id = stream_id
        conv.client = src
        local call = { request_frame = pinfo.number, request_ts = pinfo.abs_ts }
        conv.streams[stream_id] = call
        ctx.call = call
        ctx.from_client = true
    else
        if conv then
            ctx.call = conv.streams[stream_id]
            if conv.client then
                ctx.from_client = (conv.client == src)
            end
        end
        if ctx.from_client == nil then
            ctx.from_client = (pinfo.dst_port == pinfo.match_uint)
        end
        if ftype == TYPE_RESPONSE and ctx.call and not ctx.call.response_frame then
            ctx.call.response_frame = pinfo.number
        end
    end
    if not per_packet then
        per_packet = {}
        frames[pinfo.number] = per_packet
    end
    per_packet[index] = ctx
    return ctx
end

-- Dissects one whole frame; returns its Info column text.
local function dissect_frame(tvb, offset, length, pinfo, root)
    local limit = offset + HEADER_LEN + length
    local stream_id = tvb(offset + 4, 4):uint()
    local ftype = tvb(offset + 8, 1):uint()
    local flags = tvb(offset + 9, 1):uint()

    local n = tonumber(private_get(pinfo, "ttrpc.frames") or "0") + 1
    private_set(pinfo, "ttrpc.frames", tostring(n))

    local tree = root:add(ttrpc, tvb(offset, HEADER_LEN + length))
    local type_item = add_header(tvb, offset, tree)
    tree:append_text(string.format(", %s, Stream %d",
        type_names[ftype] or string.format("Unknown type %d", ftype), stream_id))

    local ctx = frame_context(pinfo, n, stream_id, ftype)
    local body = offset + HEADER_LEN
    local info

    if ftype == TYPE_REQUEST then
        if stream_id % 2 == 0 then
            tree:add_proto_expert_info(ef.even_stream)
        end
        local call = dissect_request(tvb, body, limit, pinfo, tree)
        -- Fill the stored record on the first pass; on later ones it has it.
        local rec = ctx.call
        if rec and rec.path == nil then
            rec.service, rec.method, rec.path, rec.namespace =
                call.service, call.method, call.path, call.namespace
        end
        if rec and rec.response_frame then
            tree:add(pf.response_in, tvb(0, 0), rec.response_frame):set_generated()
        end
        local what = call.path or "(malformed)"
        tree:append_text(", " .. what)
        info = "Request " .. what
        if call.topic then
            info = info .. " topic=" .. call.topic
        end
    elseif ftype == TYPE_RESPONSE then
        local call = ctx.call
        if call then
            add_call_items(tvb, tree, call, ftype, pinfo)
        else
            tree:add_proto_expert_info(ef.no_request)
        end
        local code, message = dissect_response(tvb, body, limit, pinfo, tree, call)
        local what = call and call.path or string.format("(stream %d)", stream_id)
        tree:append_text(", " .. what)
        info = "Response " .. what
        if code ~= nil then
            info = info .. " " .. (status_names[code] or tostring(code))
            if code ~= 0 and message and message ~= "" then
                info = info .. ": " .. message
            end
        end
    elseif ftype == TYPE_DATA then
        local call = ctx.call
        if call then
            add_call_items(tvb, tree, call, ftype, pinfo)
        else
            tree:add_proto_expert_info(ef.no_request)
        end
        tree:add(pf.from_client, tvb(0, 0), ctx.from_client):set_generated()
        if length > 0 then
            local f = { voff = body, vlen = length }
            local item = add_payload(tvb, f, pinfo, tree, call and call.path,
                ctx.from_client and "request" or "response")
            if bit32.band(flags, FLAG_NO_DATA) ~= 0 then
                item:add_proto_expert_info(ef.unexpected_data)
            end
        end
        local what = call and call.path or string.format("(stream %d)", stream_id)
        tree:append_text(", " .. what)
        info = "Data " .. what
        local names = flag_names(flags)
        if names ~= "" then
            info = info .. " (" .. names .. ")"
        end
    else
        type_item:add_proto_expert_info(ef.unknown_type,
            string.format("Unknown frame type %d", ftype))
        if length > 0 then
            tree:add(pf.payload, tvb(body, length))
        end
        info = string.format("Unknown type %d (stream %d)", ftype, stream_id)
    end
    return info
end

---------------------------------------------------------------------------
-- The dissector: frames one after another, with TCP reassembly for frames
-- that run past the end of the data we were given.

local function add_info(pinfo, text)
    local prev = private_get(pinfo, "ttrpc.info")
    local all = prev and (prev .. ", " .. text) or text
    private_set(pinfo, "ttrpc.info", all)
    pinfo.cols.info:set(all)
end

function ttrpc.dissector(tvb, pinfo, root)
    local total = tvb:len()
    local offset = 0
    pinfo.cols.protocol:set("ttrpc")

    while offset < total do
        local remaining = total - offset
        if remaining < HEADER_LEN then
            if pinfo.can_desegment > 0 then
                pinfo.desegment_offset = offset
                pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
                return total
            end
            local t = root:add(ttrpc, tvb(offset, remaining))
            t:add(pf.garbage, tvb(offset, remaining))
            t:add_proto_expert_info(ef.truncated)
            add_info(pinfo, "Truncated frame header")
            return total
        end

        local length = tvb(offset, 4):uint()
        if length > MAX_LENGTH then
            -- Not a frame header: out of step with the stream (or not ttrpc).
            -- Nothing after it in this segment can be trusted.
            local t = root:add(ttrpc, tvb(offset, remaining))
            t:append_text(", undecodable")
            local li = t:add(pf.length, tvb(offset, 4))
            li:add_proto_expert_info(ef.bad_length,
                string.format("Frame length %d is over the %d-byte maximum", length, MAX_LENGTH))
            t:add(pf.garbage, tvb(offset, remaining))
            add_info(pinfo, "Malformed (bad frame length)")
            return total
        end

        if remaining < HEADER_LEN + length then
            if pinfo.can_desegment > 0 then
                pinfo.desegment_offset = offset
                pinfo.desegment_len = HEADER_LEN + length - remaining
                return total
            end
            local t = root:add(ttrpc, tvb(offset, remaining))
            add_header(tvb, offset, t)
            t:add_proto_expert_info(ef.truncated,
                string.format("Frame of %d bytes, only %d here", length, remaining - HEADER_LEN))
            add_info(pinfo, "Truncated frame")
            return total
        end

        local ok, info = pcall(dissect_frame, tvb, offset, length, pinfo, root)
        if not ok then
            local t = root:add(ttrpc, tvb(offset, HEADER_LEN + length))
            t:add_proto_expert_info(ef.internal, "Dissector error: " .. tostring(info))
            info = "Dissector error"
        end
        add_info(pinfo, info)
        offset = offset + HEADER_LEN + length
    end
    return total
end

---------------------------------------------------------------------------
-- Registration: the port from the preference, and "Decode As" for others.

local tcp_port_table = DissectorTable.get("tcp.port")
local registered_port = DEFAULT_PORT
tcp_port_table:add(LEGACY_PORT, ttrpc)
tcp_port_table:add(registered_port, ttrpc)
tcp_port_table:add_for_decode_as(ttrpc)

function ttrpc.prefs_changed()
    local port = ttrpc.prefs.port
    if port ~= registered_port then
        if registered_port ~= 0 and registered_port ~= LEGACY_PORT then
            tcp_port_table:remove(registered_port, ttrpc)
        end
        if port ~= 0 then
            tcp_port_table:add(port, ttrpc)
        end
        registered_port = port
    end
end
