//! Typed ids: one newtype over a UUID v7 per entity, so a `UserId` never stands in for a `SessionId`.

/// Declare a typed id: serde-transparent, a `uuid` string in OpenAPI, a PostgreSQL `uuid` in diesel,
/// and parsed from path segments (a malformed one is a 404, see [`crate::json::path_config`]).
#[macro_export]
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
            ::diesel::expression::AsExpression, ::diesel::deserialize::FromSqlRow,
        )]
        #[serde(transparent)]
        #[diesel(sql_type = ::diesel::sql_types::Uuid)]
        pub struct $name(pub ::uuid::Uuid);

        impl $name {
            /// A new, time-ordered (v7) id.
            pub fn new() -> Self {
                Self(::uuid::Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> ::uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl From<::uuid::Uuid> for $name {
            fn from(u: ::uuid::Uuid) -> Self {
                Self(u)
            }
        }

        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .format(Some(::utoipa::openapi::schema::SchemaFormat::KnownFormat(
                        ::utoipa::openapi::schema::KnownFormat::Uuid,
                    )))
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $name {}

        impl ::diesel::serialize::ToSql<::diesel::sql_types::Uuid, ::diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut ::diesel::serialize::Output<'b, '_, ::diesel::pg::Pg>,
            ) -> ::diesel::serialize::Result {
                <::uuid::Uuid as ::diesel::serialize::ToSql<::diesel::sql_types::Uuid, ::diesel::pg::Pg>>::to_sql(&self.0, out)
            }
        }

        impl ::diesel::deserialize::FromSql<::diesel::sql_types::Uuid, ::diesel::pg::Pg> for $name {
            fn from_sql(
                bytes: <::diesel::pg::Pg as ::diesel::backend::Backend>::RawValue<'_>,
            ) -> ::diesel::deserialize::Result<Self> {
                <::uuid::Uuid as ::diesel::deserialize::FromSql<::diesel::sql_types::Uuid, ::diesel::pg::Pg>>::from_sql(bytes).map(Self)
            }
        }
    };
}

typed_id!(
    /// A user account.
    UserId
);
typed_id!(
    /// A signed-in device: one refresh-token family.
    SessionId
);
typed_id!(
    /// A personal access token.
    TokenId
);
typed_id!(
    /// A project (team workspace).
    ProjectId
);
typed_id!(
    /// An invitation to a project.
    InvitationId
);
typed_id!(
    /// A Markdown document.
    FileId
);
typed_id!(
    /// An attachment (an object in the blob store).
    AttachmentId
);
typed_id!(
    /// A comment or reply on a document.
    CommentId
);
typed_id!(
    /// A suggested edit of a document.
    SuggestionId
);
typed_id!(
    /// A notification for a user.
    NotificationId
);
typed_id!(
    /// An AI chat session in a project.
    ChatSessionId
);
typed_id!(
    /// A message of an AI chat session.
    ChatMessageId
);
typed_id!(
    /// An AI edit or completion of a document, streamed.
    AiEditId
);
typed_id!(
    /// A public share link of a document or a folder.
    ShareId
);
