import CNGHTTP2

// nghttp2's callbacks. They capture nothing, recover the connection from `user_data`, never trap
// on what the peer sent, and only record events: no call back into nghttp2 happens from here,
// except `nghttp2_submit_trailer` from the data provider, which nghttp2 documents as allowed.

/// Runs `body` with the connection behind `user_data`, without retaining it: the connection is
/// alive for the whole nghttp2 call that runs the callback (it is nghttp2's caller). A retain and
/// release per callback — a header callback runs for every header of every request — went
/// through the slow, side-table path, as the connection is also weakly referenced.
@inline(__always)
private func connection<R>(_ user: UnsafeMutableRawPointer?, _ body: (H2Connection) -> R) -> R {
  Unmanaged<H2Connection>.fromOpaque(user!)._withUnsafeGuaranteedRef(body)
}

let h2OnBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, user in
  guard let frame else { return 0 }
  let isRequest = frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
  connection(user) { $0.beginHeaders(streamID: frame.pointee.hd.stream_id, isRequest: isRequest) }
  return 0
}

let h2OnHeader: nghttp2_on_header_callback = { _, frame, name, namelen, value, valuelen, _, user in
  guard let frame else { return 0 }
  let ok = connection(user) {
    $0.header(
      streamID: frame.pointee.hd.stream_id,
      name: UnsafeRawBufferPointer(start: name, count: namelen),
      value: UnsafeRawBufferPointer(start: value, count: valuelen))
  }
  // Over the header-list limit: nghttp2 resets just this stream.
  return ok ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
}

let h2OnFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, user in
  guard let frame else { return 0 }
  connection(user) { c in frameReceived(c, frame) }
  return 0
}

@inline(__always)
private func frameReceived(_ c: H2Connection, _ frame: UnsafePointer<nghttp2_frame>) {
  let hd = frame.pointee.hd
  let endStream = hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
  switch UInt32(hd.type) {
  case NGHTTP2_HEADERS.rawValue:
    c.headersComplete(streamID: hd.stream_id, endStream: endStream)
  case NGHTTP2_DATA.rawValue:
    c.dataComplete(streamID: hd.stream_id, endStream: endStream)
  case NGHTTP2_GOAWAY.rawValue:
    c.goAwayReceived(
      lastStreamID: frame.pointee.goaway.last_stream_id, code: frame.pointee.goaway.error_code)
  case NGHTTP2_PING.rawValue:
    if hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 {
      c.pingReceived()
    } else {
      var opaque: UInt64 = 0
      withUnsafeMutableBytes(of: &opaque) { dst in
        withUnsafeBytes(of: frame.pointee.ping.opaque_data) { src in dst.copyMemory(from: src) }
      }
      c.pingAckReceived(UInt64(bigEndian: opaque))
    }
  default:
    break
  }
}

let h2OnDataChunkRecv: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, len, user in
  connection(user) { $0.dataChunk(streamID: streamID, bytes: UnsafeRawBufferPointer(start: data, count: len)) }
  return 0
}

let h2OnStreamClose: nghttp2_on_stream_close_callback = { _, streamID, code, user in
  connection(user) { $0.streamClosed(streamID: streamID, code: code) }
  return 0
}

let h2ReadCallback: nghttp2_data_source_read_callback = { _, streamID, buf, length, flags, _, user in
  guard let buf, let flags else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
  return connection(user) {
    $0.readData(
      streamID: streamID, into: UnsafeMutableRawBufferPointer(start: buf, count: length), flags: &flags.pointee)
  }
}

/// A frame nghttp2 could not send (e.g. a header block over the peer's limit or its own): for
/// HEADERS, the stream is closed here but the peer was never told; the connection resets it.
let h2OnFrameNotSend: nghttp2_on_frame_not_send_callback = { _, frame, code, user in
  guard let frame else { return 0 }
  let hd = frame.pointee.hd
  if UInt32(hd.type) == NGHTTP2_HEADERS.rawValue && hd.stream_id > 0 {
    connection(user) { $0.headersNotSent(streamID: hd.stream_id, error: code) }
  }
  return 0
}

/// Every frame header, before its payload: the server checks stream ids here (RFC 9113 §5.1.1:
/// a HEADERS frame on a stream id that is not new and not open is a connection error) and notes
/// that the peer spoke (the preface timeout).
let h2OnBeginFrame: nghttp2_on_begin_frame_callback = { _, hd, user in
  guard let hd else { return 0 }
  let ok = connection(user) {
    $0.beginFrame(type: hd.pointee.type, streamID: hd.pointee.stream_id, flags: hd.pointee.flags)
  }
  return ok ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
}

/// Frames sent: RST_STREAM ids are remembered (frames the peer sent before seeing the reset
/// are then ignored, not an error).
let h2OnFrameSend: nghttp2_on_frame_send_callback = { _, frame, user in
  guard let frame else { return 0 }
  if UInt32(frame.pointee.hd.type) == NGHTTP2_RST_STREAM.rawValue {
    connection(user) { $0.resetSent(streamID: frame.pointee.hd.stream_id) }
  }
  return 0
}
