//! [`Repr`]: a whole message as plain values, parsed from and emitted to a
//! [`Packet`].

#![allow(clippy::wildcard_imports)]

use super::*;

/// A PTP message: header, body, and TLVs (borrowed, unparsed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr<'a> {
    /// Common header fields.
    pub header: Header,
    /// The body, which also gives the message type.
    pub body: Body,
    /// TLVs after the body (walk them with [`Repr::tlvs`]); for an unknown
    /// message type, the whole body.
    pub tlvs: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parses a message view. TLVs borrow from the view's buffer.
    ///
    /// # Errors
    /// [`Error::Truncated`] / [`Error::BadLength`] for bad lengths,
    /// [`Error::BadTimestamp`] for a timestamp with nanoseconds ≥ 10⁹,
    /// [`Error::BadTlv`] when the TLVs of a known message type do not add up.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self, Error> {
        packet.check_len()?;
        let inner: &'a T = packet.buffer;
        let buf: &'a [u8] = inner.as_ref();
        let ty = packet.message_type();
        let start = HEADER_LEN.saturating_add(ty.body_len());
        let tlvs = bytes::slice(buf, start, usize::from(packet.message_length()));
        let header = Header {
            sdo_id: packet.sdo_id(),
            version: packet.version(),
            minor_version: packet.minor_version(),
            domain_number: packet.domain_number(),
            flags: packet.flags(),
            correction: packet.correction(),
            message_type_specific: packet.message_type_specific(),
            source_port_identity: packet.source_port_identity(),
            sequence_id: packet.sequence_id(),
            control_field: packet.control_field(),
            log_message_interval: packet.log_message_interval(),
        };
        let body = match ty {
            MessageType::Sync => Body::Sync {
                origin_timestamp: packet.timestamp()?,
            },
            MessageType::DelayReq => Body::DelayReq {
                origin_timestamp: packet.timestamp()?,
            },
            MessageType::PdelayReq => Body::PdelayReq {
                origin_timestamp: packet.timestamp()?,
            },
            MessageType::PdelayResp => Body::PdelayResp {
                request_receipt_timestamp: packet.timestamp()?,
                requesting_port_identity: packet.requesting_port_identity(),
            },
            MessageType::FollowUp => Body::FollowUp {
                precise_origin_timestamp: packet.timestamp()?,
            },
            MessageType::DelayResp => Body::DelayResp {
                receive_timestamp: packet.timestamp()?,
                requesting_port_identity: packet.requesting_port_identity(),
            },
            MessageType::PdelayRespFollowUp => Body::PdelayRespFollowUp {
                response_origin_timestamp: packet.timestamp()?,
                requesting_port_identity: packet.requesting_port_identity(),
            },
            MessageType::Announce => Body::Announce(Announce {
                origin_timestamp: packet.timestamp()?,
                current_utc_offset: i16::from_be_bytes(bytes::array(buf, field::ANN_UTC_OFFSET)),
                grandmaster_priority1: bytes::u8_at(buf, field::ANN_PRIORITY1),
                grandmaster_clock_quality: ClockQuality {
                    clock_class: bytes::u8_at(buf, field::ANN_QUALITY),
                    clock_accuracy: bytes::u8_at(buf, field::ANN_QUALITY.saturating_add(1)),
                    offset_scaled_log_variance: bytes::be_u16(
                        buf,
                        field::ANN_QUALITY.saturating_add(2),
                    ),
                },
                grandmaster_priority2: bytes::u8_at(buf, field::ANN_PRIORITY2),
                grandmaster_identity: ClockIdentity(bytes::array(buf, field::ANN_GM_IDENTITY)),
                steps_removed: bytes::be_u16(buf, field::ANN_STEPS),
                time_source: TimeSource::from_u8(bytes::u8_at(buf, field::ANN_TIME_SOURCE)),
            }),
            MessageType::Signaling => Body::Signaling {
                target_port_identity: packet.target_port_identity(),
            },
            MessageType::Management => Body::Management(Management {
                target_port_identity: packet.target_port_identity(),
                starting_boundary_hops: bytes::u8_at(buf, field::MGMT_STARTING_HOPS),
                boundary_hops: bytes::u8_at(buf, field::MGMT_HOPS),
                action: ManagementAction::from_nibble(bytes::u8_at(buf, field::MGMT_ACTION)),
            }),
            MessageType::Unknown(v) => Body::Unknown(v),
        };
        if !matches!(body, Body::Unknown(_)) {
            tlv::check(tlvs)?;
        }
        Ok(Self { header, body, tlvs })
    }

    /// Parses bytes directly (`Packet::new_checked` + [`Repr::parse`]).
    ///
    /// # Errors
    /// As [`Repr::parse`].
    pub fn parse_bytes(buf: &'a [u8]) -> Result<Self, Error> {
        Self::parse(&Packet::new_checked(buf)?)
    }

    /// The message type.
    pub const fn message_type(&self) -> MessageType {
        self.body.message_type()
    }

    /// Walks the TLVs (empty for an unknown message type's raw body only if
    /// it happens to be TLV-shaped).
    pub fn tlvs(&self) -> Tlvs<'a> {
        Tlvs::new(self.tlvs)
    }

    /// `messageLength` of the emitted message.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            .saturating_add(self.message_type().body_len())
            .saturating_add(self.tlvs.len())
    }

    /// Writes the message to the start of `buf`; returns its length.
    ///
    /// # Errors
    /// [`Error::Truncated`] when `buf` is shorter than [`Repr::buffer_len`];
    /// [`Error::FieldOutOfRange`] when a field does not fit (sdoId above 12
    /// bits, version fields above 4 bits, an unknown type above 4 bits or
    /// naming a known type, a length above 65535); [`Error::BadTlv`] when the
    /// TLVs of a known type do not parse back.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let h = &self.header;
        let ty = self.message_type();
        if h.sdo_id > 0x0FFF
            || h.version > 0x0F
            || h.minor_version > 0x0F
            || MessageType::from_nibble(ty.to_nibble()) != ty
        {
            return Err(Error::FieldOutOfRange);
        }
        if let Body::Management(m) = self.body {
            if ManagementAction::from_nibble(m.action.to_nibble()) != m.action {
                return Err(Error::FieldOutOfRange);
            }
        }
        if let Body::Unknown(v) = self.body {
            if v > 0x0F {
                return Err(Error::FieldOutOfRange);
            }
        } else {
            tlv::check(self.tlvs)?;
        }
        let len = self.buffer_len();
        let len16 = u16::try_from(len).map_err(|_| Error::FieldOutOfRange)?;
        let out = buf.get_mut(..len).ok_or(Error::Truncated)?;
        out.fill(0);
        let mut p = Packet::new_unchecked(&mut *out);
        p.set_sdo_id(h.sdo_id);
        p.set_message_type(ty);
        p.set_version(h.version, h.minor_version);
        p.set_message_length(len16);
        p.set_domain_number(h.domain_number);
        p.set_flags(h.flags);
        p.set_correction(h.correction);
        p.set_message_type_specific(h.message_type_specific);
        p.set_source_port_identity(h.source_port_identity);
        p.set_sequence_id(h.sequence_id);
        p.set_control_field(h.control_field);
        p.set_log_message_interval(h.log_message_interval);
        match self.body {
            Body::Sync {
                origin_timestamp: t,
            }
            | Body::DelayReq {
                origin_timestamp: t,
            }
            | Body::PdelayReq {
                origin_timestamp: t,
            }
            | Body::FollowUp {
                precise_origin_timestamp: t,
            } => p.set_timestamp(t),
            Body::PdelayResp {
                request_receipt_timestamp: t,
                requesting_port_identity: id,
            }
            | Body::DelayResp {
                receive_timestamp: t,
                requesting_port_identity: id,
            }
            | Body::PdelayRespFollowUp {
                response_origin_timestamp: t,
                requesting_port_identity: id,
            } => {
                p.set_timestamp(t);
                p.set_requesting_port_identity(id);
            }
            Body::Announce(a) => {
                p.set_timestamp(a.origin_timestamp);
                let q = a.grandmaster_clock_quality;
                bytes::put(
                    out,
                    field::ANN_UTC_OFFSET,
                    &a.current_utc_offset.to_be_bytes(),
                );
                bytes::put_u8(out, field::ANN_PRIORITY1, a.grandmaster_priority1);
                bytes::put_u8(out, field::ANN_QUALITY, q.clock_class);
                bytes::put_u8(out, field::ANN_QUALITY.saturating_add(1), q.clock_accuracy);
                bytes::put(
                    out,
                    field::ANN_QUALITY.saturating_add(2),
                    &q.offset_scaled_log_variance.to_be_bytes(),
                );
                bytes::put_u8(out, field::ANN_PRIORITY2, a.grandmaster_priority2);
                bytes::put(out, field::ANN_GM_IDENTITY, &a.grandmaster_identity.0);
                bytes::put(out, field::ANN_STEPS, &a.steps_removed.to_be_bytes());
                bytes::put_u8(out, field::ANN_TIME_SOURCE, a.time_source.to_u8());
            }
            Body::Signaling {
                target_port_identity,
            } => p.set_target_port_identity(target_port_identity),
            Body::Management(m) => {
                p.set_target_port_identity(m.target_port_identity);
                bytes::put_u8(out, field::MGMT_STARTING_HOPS, m.starting_boundary_hops);
                bytes::put_u8(out, field::MGMT_HOPS, m.boundary_hops);
                bytes::put_u8(out, field::MGMT_ACTION, m.action.to_nibble());
            }
            Body::Unknown(_) => {}
        }
        bytes::put(out, HEADER_LEN.saturating_add(ty.body_len()), self.tlvs);
        Ok(len)
    }
}
