// zlib for gRPC message compression (grpc-encoding gzip and deflate). Only RPC's Compression
// imports it. zlib's init functions are macros; these wrap them for Swift.
#include <zlib.h>

/// deflateInit2 at the default level: windowBits 15 for zlib ("deflate"), 31 for gzip.
static inline int tuoyu_deflate_init(z_streamp strm, int windowBits) {
  return deflateInit2(strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY);
}

/// inflateInit2: windowBits 47 reads zlib and gzip alike.
static inline int tuoyu_inflate_init(z_streamp strm, int windowBits) {
  return inflateInit2(strm, windowBits);
}
