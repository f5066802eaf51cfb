/**
 * Link-layer header types (tcpdump.org's LINKTYPE_ list): the ones decoded, and names for the
 * ones that are not, so a skipped packet is reported as "link type PPP_PPPD (166)", not a number.
 */

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_PPP = 9;
export const LINKTYPE_PPP_HDLC = 50;
export const LINKTYPE_PPP_ETHER = 51;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_C_HDLC = 104;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_PPP_PPPD = 166;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;
/** DLT_RAW as written by some platforms instead of LINKTYPE_RAW (12 on most BSDs, 14 on OpenBSD). */
export const DLT_RAW_BSD = 12;
export const DLT_RAW_OPENBSD = 14;

const NAMES: Record<number, string> = {
  0: "NULL",
  1: "ETHERNET",
  3: "AX25",
  6: "IEEE802_5",
  7: "ARCNET_BSD",
  8: "SLIP",
  9: "PPP",
  10: "FDDI",
  12: "RAW",
  14: "RAW",
  50: "PPP_HDLC",
  51: "PPP_ETHER",
  100: "ATM_RFC1483",
  101: "RAW",
  104: "C_HDLC",
  105: "IEEE802_11",
  107: "FRELAY",
  108: "LOOP",
  113: "LINUX_SLL",
  114: "LTALK",
  117: "PFLOG",
  119: "IEEE802_11_PRISM",
  122: "IP_OVER_FC",
  123: "SUNATM",
  127: "IEEE802_11_RADIOTAP",
  129: "ARCNET_LINUX",
  130: "JUNIPER_MLPPP",
  131: "JUNIPER_MLFR",
  132: "JUNIPER_ES",
  133: "JUNIPER_GGSN",
  134: "JUNIPER_MFR",
  135: "JUNIPER_ATM2",
  136: "JUNIPER_SERVICES",
  137: "JUNIPER_ATM1",
  138: "APPLE_IP_OVER_IEEE1394",
  139: "MTP2_WITH_PHDR",
  140: "MTP2",
  141: "MTP3",
  142: "SCCP",
  143: "DOCSIS",
  144: "LINUX_IRDA",
  163: "IEEE802_11_AVS",
  164: "JUNIPER_MONITOR",
  165: "BACNET_MS_TP",
  166: "PPP_PPPD",
  167: "JUNIPER_PPPOE",
  168: "JUNIPER_PPPOE_ATM",
  169: "GPRS_LLC",
  174: "JUNIPER_PIC_PEER",
  177: "LINUX_LAPD",
  178: "JUNIPER_ETHER",
  179: "JUNIPER_PPP",
  180: "JUNIPER_FRELAY",
  181: "JUNIPER_CHDLC",
  183: "JUNIPER_VP",
  187: "BLUETOOTH_HCI_H4",
  189: "USB_LINUX",
  192: "PPI",
  195: "IEEE802_15_4_WITHFCS",
  197: "ERF",
  201: "BLUETOOTH_HCI_H4_WITH_PHDR",
  220: "USB_LINUX_MMAPPED",
  227: "CAN_SOCKETCAN",
  228: "IPV4",
  229: "IPV6",
  239: "NFLOG",
  240: "NETANALYZER",
  242: "IPOIB",
  249: "USBPCAP",
  252: "WIRESHARK_UPPER_PDU",
  253: "NETLINK",
  276: "LINUX_SLL2",
};

/** The LINKTYPE_ name without its prefix, e.g. 1 → "ETHERNET", 113 → "LINUX_SLL". */
export function linkTypeName(n: number): string {
  return NAMES[n] ?? `UNKNOWN(${n})`;
}
