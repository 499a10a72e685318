"""Realistic sample cases for the demo federation (CONTRACT §8).

Each entry is (accepting node, role of the operator, case body). Several are taken by a
node without jurisdiction — the Guangdong 12315 phone centre, a Nanshan complaint about a
Hangzhou firm — so routing has work to do. Names and phone numbers are fictitious; the
USCCs are the public registrations of the firms named (see tests/node/data/uscc_codes.csv).
"""
from __future__ import annotations


def _complaint(summary, description, region, respondent, category, *, channel="web", urgency="general",
               amount=None, uscc=None, name="王女士", phone="13800138000", address="深圳市南山区科技园",
               received_at=None, extensions=None):
    body = {
        "kind": "complaint", "channel": channel, "urgency": urgency,
        "complainant": {"name": name, "phone": phone, "address": address},
        "respondent": {"name": respondent, "region_code": region, "address": ""},
        "category": category, "summary": summary, "description": description,
    }
    if uscc:
        body["respondent"]["uscc"] = uscc
    if amount:
        body["amount"] = amount
    if received_at:
        body["received_at"] = received_at
    if extensions:
        body["extensions"] = extensions
    return body


SAMPLE_CASES = [
    # taken locally by the county that has jurisdiction
    ("440305", "intake", _complaint(
        "购买的手机屏幕出现绿线，商家拒绝退换", "2026年9月在南山区某手机专卖店购买手机，使用一周后屏幕出现绿线，商家以人为损坏为由拒绝三包。",
        "440305", "深圳市南山区某通讯器材店", "G0301", channel="visit", amount="5999.00")),
    ("440305", "intake", _complaint(
        "健身房预付卡闭店无法退费", "办理年卡3880元后健身房突然闭店，工作人员失联，要求退还剩余费用。",
        "440305", "深圳市南山区某健身管理有限公司", "S0601", amount="3880.00", name="李先生", phone="13912345678")),
    ("440305", "intake", {
        "kind": "consultation", "channel": "phone", "category": "S0201",
        "summary": "咨询预付式消费退款的法律依据", "description": "消费者咨询商家闭店后预付卡如何维权。",
    }),
    # Guangdong 12315 phone centre: central phone intake, distributed down to the county
    ("440000", "intake", _complaint(
        "外卖食品中吃出异物，食用后腹痛", "通过外卖平台点餐，在米饭中发现金属异物，食用后出现腹痛。", "440305",
        "深圳市南山区某餐饮店", "S0304", channel="phone", name="陈女士", phone="13600001111",
        extensions={"gd_platform_order_no": "MT20260928123456"})),
    ("440000", "intake", _complaint(
        "新购电动自行车电池鼓包", "购买不到一个月的电动自行车电池鼓包，存在起火隐患。", "440305",
        "深圳市南山区某电动车行", "G0702", channel="phone", urgency="urgent", amount="2300.00")),
    # Nanshan takes a complaint about a Hangzhou Xihu firm: up to HQ and down to Xihu
    ("440305", "intake", _complaint(
        "网购羽绒服含绒量与宣传不符", "在网店购买的羽绒服标注含绒量90%，送检结果仅为50%。", "330106",
        "杭州市西湖区某服饰有限公司", "G0401", amount="899.00", name="赵先生", phone="13711112222")),
    ("440305", "intake", _complaint(
        "西湖景区周边餐馆价格欺诈", "在杭州西湖景区附近餐馆就餐，菜单未明码标价，结账时被收取高价。", "330106",
        "杭州市西湖区某餐饮管理有限公司", "S0101", amount="1260.00", name="孙女士", phone="13522223333")),
    # Xihu takes a local report against a business
    ("330106", "intake", {
        "kind": "report", "report_target": "business", "channel": "web",
        "complainant": {"anonymous": True},
        "respondent": {"name": "杭州市西湖区某超市", "region_code": "330106", "address": "杭州市西湖区文三路"},
        "category": "G0101", "summary": "超市销售过期预包装食品", "description": "举报某超市货架上多款饼干已过保质期仍在销售。",
    }),
    # an especially urgent case at the station
    ("440305001", "intake", _complaint(
        "学校附近小卖部销售的辣条导致多名学生呕吐", "多名小学生食用同一批次辣条后出现呕吐、腹痛，疑似食物中毒。",
        "440305", "南山区粤海街道某小卖部", "G0101", channel="visit", urgency="critical",
        name="周先生", phone="13433334444")),
]
