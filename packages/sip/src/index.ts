export const SIP_VERSION = "SIP/2.0";
