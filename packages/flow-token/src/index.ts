export { FlowTokenCodec, FlowTokenError, FLOW_TOKEN_VERSION, sameFlow } from "./flow-token.js";
export type { FlowDescriptor, FlowTokenCodecOptions, FlowTokenDecodeResult, FlowTransport } from "./flow-token.js";
