//! The messages of Easemob's msync protocol, as its web SDK
//! (`easemob-websdk` 4.21.1) encodes them: package `easemob.pb`, proto2,
//! every message and field of the schema embedded in the SDK (rendered in
//! `shared/research/easemob-msync/msync.proto`), written out for `prost`
//! by field number so no `protoc` is needed to build. Generated once from
//! that schema (`JID` is spelled `Jid`); a field a newer SDK adds is
//! skipped on decoding, as proto2 allows. Over 600 lines because it is the
//! whole schema, one struct per message, read by type.

#![allow(clippy::all)]

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MessageBody {
    #[prost(enumeration = "message_body::Type", optional, tag = "1")]
    pub r#type: ::core::option::Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub from: ::core::option::Option<Jid>,
    #[prost(message, optional, tag = "3")]
    pub to: ::core::option::Option<Jid>,
    #[prost(message, repeated, tag = "4")]
    pub contents: ::prost::alloc::vec::Vec<message_body::Content>,
    #[prost(message, repeated, tag = "5")]
    pub ext: ::prost::alloc::vec::Vec<KeyValue>,
    #[prost(uint64, optional, tag = "6")]
    pub ack_message_id: ::core::option::Option<u64>,
    #[prost(message, optional, tag = "7")]
    pub msg_config: ::core::option::Option<message_body::MessageConfig>,
    #[prost(string, optional, tag = "8")]
    pub ack_content: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "9")]
    pub meta: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(uint64, optional, tag = "11")]
    pub edit_message_id: ::core::option::Option<u64>,
    #[prost(enumeration = "message_body::EditScope", optional, tag = "12")]
    pub edit_scope: ::core::option::Option<i32>,
    #[prost(message, optional, tag = "13")]
    pub stream: ::core::option::Option<message_body::Stream>,
}
/// Nested in `MessageBody`.
pub mod message_body {
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Content {
        #[prost(enumeration = "super::message_body::content::Type", optional, tag = "1")]
        pub r#type: ::core::option::Option<i32>,
        #[prost(string, optional, tag = "2")]
        pub text: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(double, optional, tag = "3")]
        pub latitude: ::core::option::Option<f64>,
        #[prost(double, optional, tag = "4")]
        pub longitude: ::core::option::Option<f64>,
        #[prost(string, optional, tag = "5")]
        pub address: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(string, optional, tag = "6")]
        pub display_name: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(string, optional, tag = "7")]
        pub remote_path: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(string, optional, tag = "8")]
        pub secret_key: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(int32, optional, tag = "9")]
        pub file_length: ::core::option::Option<i32>,
        #[prost(string, optional, tag = "10")]
        pub action: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(message, repeated, tag = "11")]
        pub params: ::prost::alloc::vec::Vec<super::KeyValue>,
        #[prost(int32, optional, tag = "12")]
        pub duration: ::core::option::Option<i32>,
        #[prost(message, optional, tag = "13")]
        pub size: ::core::option::Option<super::message_body::content::Size>,
        #[prost(string, optional, tag = "14")]
        pub thumbnail_remote_path: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(string, optional, tag = "15")]
        pub thumbnail_secret_key: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(string, optional, tag = "16")]
        pub thumbnail_display_name: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(int32, optional, tag = "17")]
        pub thumbnail_file_length: ::core::option::Option<i32>,
        #[prost(message, optional, tag = "18")]
        pub thumbnail_size: ::core::option::Option<super::message_body::content::Size>,
        #[prost(string, optional, tag = "19")]
        pub custom_event: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(message, repeated, tag = "20")]
        pub custom_exts: ::prost::alloc::vec::Vec<super::KeyValue>,
        #[prost(string, optional, tag = "21")]
        pub building_name: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(enumeration = "super::message_body::content::SubType", optional, tag = "22")]
        pub sub_type: ::core::option::Option<i32>,
        #[prost(string, optional, tag = "23")]
        pub title: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(string, optional, tag = "24")]
        pub summary: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(int32, optional, tag = "25")]
        pub combine_level: ::core::option::Option<i32>,
    }
    /// Nested in `Content`.
    pub mod content {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum Type {
            Text = 0,
            Image = 1,
            Video = 2,
            Location = 3,
            Voice = 4,
            File = 5,
            Command = 6,
            Custom = 7,
            Combine = 8,
        }
        #[derive(Clone, PartialEq, ::prost::Message)]
        pub struct Size {
            #[prost(double, optional, tag = "1")]
            pub width: ::core::option::Option<f64>,
            #[prost(double, optional, tag = "2")]
            pub height: ::core::option::Option<f64>,
        }
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum SubType {
            SubtypeCombine = 0,
            Gif = 1,
            SubStream = 10,
        }
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Type {
        Normal = 0,
        Chat = 1,
        Groupchat = 2,
        Chatroom = 3,
        ReadAck = 4,
        DeliverAck = 5,
        Recall = 6,
        ChannelAck = 7,
        Edit = 8,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum EditScope {
        Body = 1,
        BodyAndExt = 2,
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct MessageConfig {
        #[prost(bool, optional, tag = "1")]
        pub allow_group_ack: ::core::option::Option<bool>,
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Stream {
        #[prost(string, optional, tag = "1")]
        pub stream_type: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(uint64, optional, tag = "2")]
        pub stream_seq: ::core::option::Option<u64>,
        #[prost(enumeration = "super::message_body::stream::StreamStatus", optional, tag = "3")]
        pub stream_status: ::core::option::Option<i32>,
        #[prost(uint32, optional, tag = "4")]
        pub stream_error: ::core::option::Option<u32>,
        #[prost(int32, optional, tag = "5")]
        pub stream_finish_reason: ::core::option::Option<i32>,
    }
    /// Nested in `Stream`.
    pub mod stream {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum StreamStatus {
            StreamStart = 0,
            StreamInProgress = 1,
            StreamCompleted = 2,
            StreamFull = 3,
        }
    }
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct KeyValue {
    #[prost(string, optional, tag = "1")]
    pub key: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(enumeration = "key_value::ValueType", optional, tag = "2")]
    pub r#type: ::core::option::Option<i32>,
    #[prost(int64, optional, tag = "3")]
    pub varint_value: ::core::option::Option<i64>,
    #[prost(float, optional, tag = "4")]
    pub float_value: ::core::option::Option<f32>,
    #[prost(double, optional, tag = "5")]
    pub double_value: ::core::option::Option<f64>,
    #[prost(string, optional, tag = "6")]
    pub string_value: ::core::option::Option<::prost::alloc::string::String>,
}
/// Nested in `KeyValue`.
pub mod key_value {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum ValueType {
        Bool = 1,
        Int = 2,
        Uint = 3,
        Llint = 4,
        Float = 5,
        Double = 6,
        String = 7,
        JsonString = 8,
    }
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Jid {
    #[prost(string, optional, tag = "1")]
    pub app_key: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "2")]
    pub name: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "3")]
    pub domain: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "4")]
    pub client_resource: ::core::option::Option<::prost::alloc::string::String>,
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ConferenceBody {
    #[prost(string, optional, tag = "1")]
    pub session_id: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(enumeration = "conference_body::Operation", optional, tag = "2")]
    pub operation: ::core::option::Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub conference_id: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(enumeration = "conference_body::Type", optional, tag = "4")]
    pub r#type: ::core::option::Option<i32>,
    #[prost(string, optional, tag = "5")]
    pub content: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "6")]
    pub network: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "7")]
    pub version: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(enumeration = "conference_body::Identity", optional, tag = "8")]
    pub identity: ::core::option::Option<i32>,
    #[prost(string, optional, tag = "9")]
    pub duration: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "10")]
    pub peer_name: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(enumeration = "conference_body::EndReason", optional, tag = "11")]
    pub end_reason: ::core::option::Option<i32>,
    #[prost(message, optional, tag = "12")]
    pub status: ::core::option::Option<conference_body::Status>,
    #[prost(bool, optional, tag = "13")]
    pub is_direct: ::core::option::Option<bool>,
    #[prost(enumeration = "conference_body::StreamControlType", optional, tag = "14")]
    pub control_type: ::core::option::Option<i32>,
    #[prost(int32, optional, tag = "15")]
    pub route_flag: ::core::option::Option<i32>,
    #[prost(string, optional, tag = "16")]
    pub route_key: ::core::option::Option<::prost::alloc::string::String>,
}
/// Nested in `ConferenceBody`.
pub mod conference_body {
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Status {
        #[prost(int32, optional, tag = "1")]
        pub error_code: ::core::option::Option<i32>,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Operation {
        Join = 0,
        Initiate = 1,
        AcceptInitiate = 2,
        Answer = 3,
        Terminate = 4,
        Remove = 5,
        StreamControl = 6,
        MediaRequest = 7,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Type {
        Voice = 0,
        Video = 1,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Identity {
        Caller = 0,
        Callee = 1,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum EndReason {
        Hangup = 0,
        Noresponse = 1,
        Reject = 2,
        Busy = 3,
        Fail = 4,
        Unsupported = 5,
        Offline = 6,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum StreamControlType {
        PauseVoice = 0,
        ResumeVoice = 1,
        PauseVideo = 2,
        ResumeVideo = 3,
    }
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MSync {
    #[prost(enumeration = "msync::Version", optional, tag = "1")]
    pub version: ::core::option::Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub guid: ::core::option::Option<Jid>,
    #[prost(string, optional, tag = "3")]
    pub auth: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(uint32, optional, tag = "4")]
    pub compress_algorimth: ::core::option::Option<u32>,
    #[prost(uint32, optional, tag = "5")]
    pub crypto: ::core::option::Option<u32>,
    #[prost(string, optional, tag = "6")]
    pub user_agent: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(uint64, optional, tag = "7")]
    pub pov: ::core::option::Option<u64>,
    #[prost(enumeration = "msync::Command", optional, tag = "8")]
    pub command: ::core::option::Option<i32>,
    #[prost(bytes, optional, tag = "9")]
    pub payload: ::core::option::Option<::prost::alloc::vec::Vec<u8>>,
    #[prost(uint32, optional, tag = "10")]
    pub device_id: ::core::option::Option<u32>,
    #[prost(enumeration = "EncryptType", repeated, tag = "11")]
    pub encrypt_type: ::prost::alloc::vec::Vec<i32>,
    #[prost(string, optional, tag = "12")]
    pub encrypt_key: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(uint64, optional, tag = "20")]
    pub trace_id: ::core::option::Option<u64>,
}
/// Nested in `MSync`.
pub mod msync {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Version {
        MsyncV1 = 0,
        MsyncV2 = 1,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Command {
        Sync = 0,
        Unread = 1,
        Notice = 2,
        Provision = 3,
        Logout = 4,
    }
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum EncryptType {
    EncryptNone = 0,
    EncryptAes128Cbc = 1,
    EncryptAes256Cbc = 2,
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CommSyncUL {
    #[prost(message, optional, tag = "1")]
    pub meta: ::core::option::Option<Meta>,
    #[prost(uint64, optional, tag = "2")]
    pub key: ::core::option::Option<u64>,
    #[prost(message, optional, tag = "3")]
    pub queue: ::core::option::Option<Jid>,
    #[prost(bool, optional, tag = "4")]
    pub is_roam: ::core::option::Option<bool>,
    #[prost(uint64, optional, tag = "5")]
    pub last_full_roam_key: ::core::option::Option<u64>,
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CommSyncDL {
    #[prost(message, optional, tag = "1")]
    pub status: ::core::option::Option<Status>,
    #[prost(uint64, optional, tag = "2")]
    pub meta_id: ::core::option::Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    pub server_id: ::core::option::Option<u64>,
    #[prost(message, repeated, tag = "4")]
    pub metas: ::prost::alloc::vec::Vec<Meta>,
    #[prost(uint64, optional, tag = "5")]
    pub next_key: ::core::option::Option<u64>,
    #[prost(message, optional, tag = "6")]
    pub queue: ::core::option::Option<Jid>,
    #[prost(bool, optional, tag = "7")]
    pub is_last: ::core::option::Option<bool>,
    #[prost(uint64, optional, tag = "8")]
    pub timestamp: ::core::option::Option<u64>,
    #[prost(bool, optional, tag = "9")]
    pub is_roam: ::core::option::Option<bool>,
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CommNotice {
    #[prost(message, optional, tag = "1")]
    pub queue: ::core::option::Option<Jid>,
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CommUnreadUL {}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CommUnreadDL {
    #[prost(message, optional, tag = "1")]
    pub status: ::core::option::Option<Status>,
    #[prost(message, repeated, tag = "2")]
    pub unread: ::prost::alloc::vec::Vec<MetaQueue>,
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: ::core::option::Option<u64>,
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MetaQueue {
    #[prost(message, optional, tag = "1")]
    pub queue: ::core::option::Option<Jid>,
    #[prost(uint32, optional, tag = "2")]
    pub n: ::core::option::Option<u32>,
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Meta {
    #[prost(uint64, optional, tag = "1")]
    pub id: ::core::option::Option<u64>,
    #[prost(message, optional, tag = "2")]
    pub from: ::core::option::Option<Jid>,
    #[prost(message, optional, tag = "3")]
    pub to: ::core::option::Option<Jid>,
    #[prost(uint64, optional, tag = "4")]
    pub timestamp: ::core::option::Option<u64>,
    #[prost(enumeration = "meta::NameSpace", optional, tag = "5")]
    pub ns: ::core::option::Option<i32>,
    #[prost(bytes, optional, tag = "6")]
    pub payload: ::core::option::Option<::prost::alloc::vec::Vec<u8>>,
    #[prost(enumeration = "meta::RouteType", optional, tag = "7")]
    pub routetype: ::core::option::Option<i32>,
    #[prost(message, repeated, tag = "8")]
    pub ext: ::prost::alloc::vec::Vec<KeyValue>,
    #[prost(bytes, optional, tag = "9")]
    pub meta: ::core::option::Option<::prost::alloc::vec::Vec<u8>>,
    #[prost(string, repeated, tag = "10")]
    pub directed_users: ::prost::alloc::vec::Vec<::prost::alloc::string::String>,
}
/// Nested in `Meta`.
pub mod meta {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum NameSpace {
        Statistic = 0,
        Chat = 1,
        Muc = 2,
        Roster = 3,
        Conference = 4,
        Notify = 5,
        Query = 6,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum RouteType {
        RouteAll = 0,
        RouteOnline = 1,
        RouteDirect = 2,
    }
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Status {
    #[prost(enumeration = "status::ErrorCode", optional, tag = "1")]
    pub error_code: ::core::option::Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub reason: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(message, repeated, tag = "3")]
    pub redirect_info: ::prost::alloc::vec::Vec<RedirectInfo>,
}
/// Nested in `Status`.
pub mod status {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum ErrorCode {
        Ok = 0,
        Fail = 1,
        Unauthorized = 2,
        MissingParameter = 3,
        WrongParameter = 4,
        Redirect = 5,
        TokenExpired = 6,
        PermissionDenied = 7,
        NoRoute = 8,
        UnknownCommand = 9,
        PbParserError = 10,
        BindAnotherDevice = 11,
        ImForbidden = 12,
        TooManyDevices = 13,
        PlatformLimit = 14,
        UserMuted = 15,
        EncryptDisable = 16,
        EncryptEnable = 17,
        DecryptFailure = 18,
        PermissionDeniedExternal = 19,
    }
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RedirectInfo {
    #[prost(string, optional, tag = "1")]
    pub host: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(uint32, optional, tag = "2")]
    pub port: ::core::option::Option<u32>,
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Provision {
    #[prost(enumeration = "provision::OsType", optional, tag = "1")]
    pub os_type: ::core::option::Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub version: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(enumeration = "provision::NetworkType", optional, tag = "3")]
    pub network_type: ::core::option::Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub app_sign: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(enumeration = "provision::CompressType", repeated, tag = "5")]
    pub compress_type: ::prost::alloc::vec::Vec<i32>,
    #[prost(enumeration = "EncryptType", repeated, tag = "6")]
    pub encrypt_type: ::prost::alloc::vec::Vec<i32>,
    #[prost(string, optional, tag = "7")]
    pub encrypt_key: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(message, optional, tag = "8")]
    pub status: ::core::option::Option<Status>,
    #[prost(string, optional, tag = "9")]
    pub device_uuid: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(bool, optional, tag = "10")]
    pub is_manual_login: ::core::option::Option<bool>,
    #[prost(string, optional, tag = "11")]
    pub password: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "12")]
    pub device_name: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "13")]
    pub resource: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "14")]
    pub auth: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "16")]
    pub service_id: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "17")]
    pub action_version: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "18")]
    pub auth_token: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(uint32, optional, tag = "19")]
    pub os_custom_value: ::core::option::Option<u32>,
    #[prost(string, optional, tag = "20")]
    pub session_id: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "21")]
    pub reason: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(enumeration = "provision::CompressType", repeated, tag = "22")]
    pub protocol_compress_type: ::prost::alloc::vec::Vec<i32>,
    #[prost(enumeration = "provision::CompressDirection", optional, tag = "23")]
    pub protocol_compress_direction: ::core::option::Option<i32>,
}
/// Nested in `Provision`.
pub mod provision {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum OsType {
        OsIos = 0,
        OsAndroid = 1,
        OsLinux = 2,
        OsOsx = 3,
        OsWin = 4,
        OsCustom = 5,
        OsOther = 16,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum NetworkType {
        NetworkNone = 0,
        NetworkWifi = 1,
        Network4g = 2,
        Network3g = 3,
        Network2g = 4,
        NetworkWire = 5,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum CompressType {
        CompressNone = 0,
        CompressZlib = 1,
        CompressLz4 = 2,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum CompressDirection {
        OnlyUp = 0,
        OnlyDown = 1,
        Bi = 2,
    }
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Logout {
    #[prost(string, optional, tag = "1")]
    pub session_id: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "2")]
    pub reason: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(message, optional, tag = "3")]
    pub status: ::core::option::Option<Status>,
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MUCBody {
    #[prost(message, optional, tag = "1")]
    pub muc_id: ::core::option::Option<Jid>,
    #[prost(enumeration = "mucbody::Operation", optional, tag = "2")]
    pub operation: ::core::option::Option<i32>,
    #[prost(message, optional, tag = "3")]
    pub from: ::core::option::Option<Jid>,
    #[prost(message, repeated, tag = "4")]
    pub to: ::prost::alloc::vec::Vec<Jid>,
    #[prost(message, optional, tag = "5")]
    pub setting: ::core::option::Option<mucbody::Setting>,
    #[prost(string, optional, tag = "6")]
    pub reason: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(bool, optional, tag = "7")]
    pub is_chatroom: ::core::option::Option<bool>,
    #[prost(message, optional, tag = "8")]
    pub status: ::core::option::Option<mucbody::Status>,
    #[prost(bool, optional, tag = "9")]
    pub is_thread: ::core::option::Option<bool>,
    #[prost(message, optional, tag = "10")]
    pub muc_parent_id: ::core::option::Option<Jid>,
    #[prost(string, optional, tag = "11")]
    pub muc_name: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(message, optional, tag = "12")]
    pub event_info: ::core::option::Option<mucbody::EventInfo>,
    #[prost(int32, optional, tag = "13")]
    pub muc_member_count: ::core::option::Option<i32>,
    #[prost(string, optional, tag = "14")]
    pub ext: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(bool, optional, tag = "15")]
    pub leave_other_rooms: ::core::option::Option<bool>,
    #[prost(string, repeated, tag = "16")]
    pub members: ::prost::alloc::vec::Vec<::prost::alloc::string::String>,
}
/// Nested in `MUCBody`.
pub mod mucbody {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Operation {
        Create = 0,
        Destroy = 1,
        Join = 2,
        Leave = 3,
        Apply = 4,
        ApplyAccept = 5,
        ApplyDecline = 6,
        Invite = 7,
        InviteAccept = 8,
        InviteDecline = 9,
        Kick = 10,
        GetBlacklist = 11,
        Ban = 12,
        Allow = 13,
        Update = 14,
        Block = 15,
        Unblock = 16,
        Presence = 17,
        Absence = 18,
        DirectJoined = 19,
        AssignOwner = 20,
        AddAdmin = 21,
        RemoveAdmin = 22,
        AddMute = 23,
        RemoveMute = 24,
        UpdateAnnouncement = 25,
        DeleteAnnouncement = 26,
        UploadFile = 27,
        DeleteFile = 28,
        AddUserWhiteList = 29,
        RemoveUserWhiteList = 30,
        BanGroup = 31,
        RemoveBanGroup = 32,
        ThreadCreate = 33,
        ThreadDestroy = 34,
        ThreadJoin = 35,
        ThreadLeave = 36,
        ThreadKick = 37,
        ThreadUpdate = 38,
        ThreadPresence = 39,
        ThreadAbsence = 40,
        DisableGroup = 41,
        AbleGroup = 42,
        SetMetadata = 43,
        DeleteMetadata = 44,
        GroupMemberMetadataUpdate = 45,
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Setting {
        #[prost(string, optional, tag = "1")]
        pub name: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(string, optional, tag = "2")]
        pub desc: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(enumeration = "super::mucbody::setting::Type", optional, tag = "3")]
        pub r#type: ::core::option::Option<i32>,
        #[prost(int32, optional, tag = "4")]
        pub max_users: ::core::option::Option<i32>,
        #[prost(string, optional, tag = "5")]
        pub owner: ::core::option::Option<::prost::alloc::string::String>,
    }
    /// Nested in `Setting`.
    pub mod setting {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum Type {
            PrivateOwnerInvite = 0,
            PrivateMemberInvite = 1,
            PublicJoinApproval = 2,
            PublicJoinOpen = 3,
            PublicAnonymous = 4,
        }
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Status {
        #[prost(enumeration = "super::mucbody::status::ErrorCode", optional, tag = "1")]
        pub error_code: ::core::option::Option<i32>,
        #[prost(string, optional, tag = "2")]
        pub description: ::core::option::Option<::prost::alloc::string::String>,
        #[prost(string, optional, tag = "3")]
        pub chatroom_info: ::core::option::Option<::prost::alloc::string::String>,
    }
    /// Nested in `Status`.
    pub mod status {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum ErrorCode {
            Ok = 0,
            PermissionDenied = 1,
            WrongParameter = 2,
            MucNotExist = 3,
            UserNotExist = 4,
            Unknown = 5,
        }
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct EventInfo {
        #[prost(enumeration = "super::mucbody::event_info::EventType", optional, tag = "1")]
        pub event_type: ::core::option::Option<i32>,
        #[prost(string, optional, tag = "2")]
        pub ext: ::core::option::Option<::prost::alloc::string::String>,
    }
    /// Nested in `EventInfo`.
    pub mod event_info {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum EventType {
            EventNone = 0,
            CircleChannel = 1,
        }
    }
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RosterBody {
    #[prost(enumeration = "roster_body::Operation", optional, tag = "1")]
    pub operation: ::core::option::Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub status: ::core::option::Option<roster_body::Status>,
    #[prost(message, optional, tag = "3")]
    pub from: ::core::option::Option<Jid>,
    #[prost(message, repeated, tag = "4")]
    pub to: ::prost::alloc::vec::Vec<Jid>,
    #[prost(string, optional, tag = "5")]
    pub reason: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "6")]
    pub roster_ver: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(bool, optional, tag = "7")]
    pub bi_direction: ::core::option::Option<bool>,
}
/// Nested in `RosterBody`.
pub mod roster_body {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Operation {
        GetRoster = 0,
        GetBlacklist = 1,
        Add = 2,
        Remove = 3,
        Accept = 4,
        Decline = 5,
        Ban = 6,
        Allow = 7,
        RemoteAccept = 8,
        RemoteDecline = 9,
    }
    #[derive(Clone, PartialEq, ::prost::Message)]
    pub struct Status {
        #[prost(enumeration = "super::roster_body::status::ErrorCode", optional, tag = "1")]
        pub error_code: ::core::option::Option<i32>,
        #[prost(string, optional, tag = "2")]
        pub description: ::core::option::Option<::prost::alloc::string::String>,
    }
    /// Nested in `Status`.
    pub mod status {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
        #[repr(i32)]
        pub enum ErrorCode {
            Ok = 0,
            UserNotExist = 1,
            UserAlreadyFriend = 2,
            UserAlreadyBlacklist = 3,
        }
    }
}
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StatisticsBody {
    #[prost(enumeration = "statistics_body::Operation", optional, tag = "1")]
    pub operation: ::core::option::Option<i32>,
    #[prost(enumeration = "statistics_body::OsType", optional, tag = "2")]
    pub os: ::core::option::Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub version: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(enumeration = "statistics_body::NetworkType", optional, tag = "4")]
    pub network: ::core::option::Option<i32>,
    #[prost(uint32, optional, tag = "5")]
    pub im_time: ::core::option::Option<u32>,
    #[prost(uint32, optional, tag = "6")]
    pub chat_time: ::core::option::Option<u32>,
    #[prost(string, optional, tag = "7")]
    pub location: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(string, optional, tag = "10")]
    pub reason: ::core::option::Option<::prost::alloc::string::String>,
}
/// Nested in `StatisticsBody`.
pub mod statistics_body {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Operation {
        Information = 0,
        UserRemoved = 1,
        UserLoginAnotherDevice = 2,
        UserKickedByChangePassword = 3,
        UserKickedByOtherDevice = 4,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum OsType {
        OsIos = 0,
        OsAndroid = 1,
        OsLinux = 2,
        OsOsx = 3,
        OsWin = 4,
        OsCustom = 5,
        OsOther = 16,
    }
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum NetworkType {
        NetworkNone = 0,
        NetworkWifi = 1,
        Network4g = 2,
        Network3g = 3,
        Network2g = 4,
        NetworkWire = 5,
    }
}
