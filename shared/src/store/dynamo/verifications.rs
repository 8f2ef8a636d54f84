//! [`VerificationStore`] on DynamoDB: e-mail verification links (`VERIFY#<hash>`), also indexed
//! in `gsi1` under their user so that deleting the user finds them.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::{keyed, n, number, s, sdk_err, string, DynamoStore};
use crate::store::{StoreError, Verification, VerificationStore};

#[async_trait]
impl VerificationStore for DynamoStore {
    async fn put_verification(&self, v: &Verification) -> Result<(), StoreError> {
        self.put_item(keyed(
            format!("VERIFY#{}", v.token_hash),
            "VERIFY",
            HashMap::from([
                ("user_id".to_string(), n(v.user_id)),
                ("email".to_string(), s(v.email.clone())),
                ("expires_at".to_string(), n(v.expires_at)),
                ("ttl".to_string(), n(v.expires_at)),
                ("gsi1pk".to_string(), s(format!("USERTOKENS#{}", v.user_id))),
                ("gsi1sk".to_string(), s(format!("VERIFY#{}", v.token_hash))),
            ]),
        ))
        .await
    }

    async fn take_verification(
        &self,
        token_hash: &str,
    ) -> Result<Option<Verification>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("VERIFY#{token_hash}")))
            .key("sk", s("VERIFY"))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| sdk_err("DeleteItem", e))?;
        let Some(item) = out.attributes.filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(Verification {
            token_hash: token_hash.to_string(),
            user_id: number(&item, "user_id")? as u64,
            email: string(&item, "email")?,
            expires_at: number(&item, "expires_at")?,
        }))
    }
}
