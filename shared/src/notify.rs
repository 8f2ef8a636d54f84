//! The notification port: e-mail through SES (v2), SMS through SNS, or locally an outbox file.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// How a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
}

/// One e-mail or SMS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub channel: Channel,
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
#[error("message not sent: {0}")]
pub struct NotifyError(pub String);

/// Sends messages.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn send(&self, message: &Message) -> Result<(), NotifyError>;
}

/// SES for e-mail, SNS for SMS.
pub struct AwsNotifier {
    pub ses: crate::context::LazyClient<aws_sdk_sesv2::Client>,
    pub sns: crate::context::LazyClient<aws_sdk_sns::Client>,
    pub from: String,
    pub sms_sender_id: String,
}

#[async_trait]
impl Notifier for AwsNotifier {
    async fn send(&self, m: &Message) -> Result<(), NotifyError> {
        use aws_sdk_sesv2::types::{
            Body, Content, Destination, EmailContent, Message as SesMessage,
        };
        let err = |e: &dyn std::fmt::Display| NotifyError(e.to_string());
        match m.channel {
            Channel::Email => {
                let content = |text: &str| {
                    Content::builder()
                        .data(text)
                        .charset("UTF-8")
                        .build()
                        .map_err(|e| err(&e))
                };
                let message = SesMessage::builder()
                    .subject(content(&m.subject)?)
                    .body(Body::builder().text(content(&m.body)?).build())
                    .build();
                self.ses
                    .get()
                    .send_email()
                    .from_email_address(&self.from)
                    .destination(Destination::builder().to_addresses(&m.to).build())
                    .content(EmailContent::builder().simple(message).build())
                    .send()
                    .await
                    .map_err(|e| err(&aws_sdk_sesv2::error::DisplayErrorContext(e)))?;
            }
            Channel::Sms => {
                use aws_sdk_sns::types::MessageAttributeValue;
                let attr = |v: &str| {
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(v)
                        .build()
                        .map_err(|e| err(&e))
                };
                self.sns
                    .get()
                    .publish()
                    .phone_number(&m.to)
                    .message(&m.body)
                    .message_attributes("AWS.SNS.SMS.SenderID", attr(&self.sms_sender_id)?)
                    .message_attributes("AWS.SNS.SMS.SMSType", attr("Transactional")?)
                    .send()
                    .await
                    .map_err(|e| err(&aws_sdk_sns::error::DisplayErrorContext(e)))?;
            }
        }
        Ok(())
    }
}

/// The local stand-in: appends each message as a JSON line to a file and logs that it did
/// (without the body: codes and links are read from the outbox, never from the log).
pub struct Outbox {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Outbox {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Outbox {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// Every message in the outbox, oldest first.
    pub fn read(path: &std::path::Path) -> Vec<Message> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[async_trait]
impl Notifier for Outbox {
    async fn send(&self, m: &Message) -> Result<(), NotifyError> {
        let mut line = serde_json::to_string(m).map_err(|e| NotifyError(e.to_string()))?;
        line.push('\n');
        {
            let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| NotifyError(e.to_string()))?;
            }
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|e| NotifyError(format!("{}: {e}", self.path.display())))?;
        }
        tracing::info!(channel = ?m.channel, to = %m.to, subject = %m.subject, "message in the outbox: GET /_local/outbox");
        Ok(())
    }
}
