"""The GD Catalog metadata schema, written once as data.

Everything that needs the portal's schema reads it from here: the source-config
model (local checks before any push), the metadata mapper, and the scheming
schema file the local CKAN enforces (``include/portal/gdc_dataset.json`` is
generated from this module, and a test keeps the two in step).

Source: ``../shared/gdc-metadata.md`` and DGA's own scheming schemas
(``harvesters/gdc/dga/``). This registry is the project's superset of every
field and value the GD Catalog versions know; what one target portal keeps and
enforces (its *profile*) is read from that portal's schema file by
``profiles.py``, never retyped here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OTHER = "อื่นๆ"
TRUE_FALSE = ("True", "False")

# Data types (ประเภทชุดข้อมูล) and the field group each one shows.
RECORD = "ข้อมูลระเบียน"
STATISTICAL = "ข้อมูลสถิติ"
GEOSPATIAL = "ข้อมูลภูมิสารสนเทศเชิงพื้นที่"
MULTIPLE = "ข้อมูลหลากหลายประเภท"
OTHER_TYPE = "ข้อมูลประเภทอื่นๆ"
DATA_TYPES = (RECORD, STATISTICAL, GEOSPATIAL, MULTIPLE, OTHER_TYPE)


@dataclass(frozen=True)
class Field:
    name: str
    label: str  # Thai label, as the portal shows it
    required: bool = False
    choices: tuple[str, ...] = ()
    multiple: bool = False
    has_other: bool = False  # a free-text companion `<name>_other` for "อื่นๆ"
    data_types: tuple[str, ...] = DATA_TYPES  # which data types show the field
    kind: str = "text"  # text | email | date | number | slug | tags | org
    aliases: dict[str, str] = field(default_factory=dict)  # English alias -> Thai value


DATASET_FIELDS: tuple[Field, ...] = (
    Field("data_type", "ประเภทชุดข้อมูล", True, DATA_TYPES, has_other=True,
          aliases={"record": RECORD, "statistical": STATISTICAL, "geospatial": GEOSPATIAL,
                   "multiple": MULTIPLE, "other": OTHER_TYPE}),
    Field("title", "ชื่อชุดข้อมูล", True),
    Field("name", "URL", True, kind="slug"),
    Field("owner_org", "หน่วยงาน", True, kind="org"),
    Field("allow_harvest", "ยินยอมให้นำชื่อชุดข้อมูลไปใช้ที่ GD-Catalog", False, TRUE_FALSE),
    Field("reference_url_catalog", "อ้างอิง URL Catalog"),
    Field("maintainer", "ชื่อผู้ติดต่อ", True),
    Field("maintainer_email", "อีเมลผู้ติดต่อ", True, kind="email"),
    Field("tag_string", "คำสำคัญ", True, kind="tags"),
    Field("notes", "รายละเอียด", True),
    Field("objective", "วัตถุประสงค์", True, (
        "ยุทธศาสตร์ชาติ", "แผนพัฒนาเศรษฐกิจและสังคมแห่งชาติ", "แผนความมั่นคงแห่งชาติ",
        "แผนแม่บทภายใต้ยุทธศาสตร์ชาติ", "แผนปฏิรูปประเทศ", "แผนระดับที่ 3 (มติครม. 4 ธ.ค. 2560)",
        "นโยบายรัฐบาล/ข้อสั่งการนายกรัฐมนตรี", "มติคณะรัฐมนตรี", "เพื่อการให้บริการประชาชน",
        "กฎหมายที่เกี่ยวข้อง", "พันธกิจหน่วยงาน", "ดัชนี/ตัวชี้วัดระดับนานาชาติ", "ไม่ทราบ", OTHER,
    ), multiple=True, has_other=True,
        aliases={"public_service": "เพื่อการให้บริการประชาชน", "agency_mission": "พันธกิจหน่วยงาน",
                 "national_strategy": "ยุทธศาสตร์ชาติ", "government_policy": "นโยบายรัฐบาล/ข้อสั่งการนายกรัฐมนตรี",
                 "unknown": "ไม่ทราบ", "other": OTHER}),
    Field("update_frequency_unit", "หน่วยความถี่ของการปรับปรุงข้อมูล", True, (
        "ไม่ทราบ", "ปี", "ครึ่งปี", "ไตรมาส", "เดือน", "สัปดาห์", "วัน", "วันทำการ", "ชั่วโมง", "นาที",
        "ตามเวลาจริง", "ไม่มีการปรับปรุงหลังจากการจัดเก็บข้อมูล", OTHER,
    ), has_other=True,
        aliases={"unknown": "ไม่ทราบ", "year": "ปี", "half_year": "ครึ่งปี", "quarter": "ไตรมาส",
                 "month": "เดือน", "week": "สัปดาห์", "day": "วัน", "business_day": "วันทำการ",
                 "hour": "ชั่วโมง", "minute": "นาที", "realtime": "ตามเวลาจริง",
                 "never": "ไม่มีการปรับปรุงหลังจากการจัดเก็บข้อมูล", "other": OTHER}),
    Field("update_frequency_interval", "ค่าความถี่ของการปรับปรุงข้อมูล", kind="number"),
    Field("geo_coverage", "ขอบเขตเชิงภูมิศาสตร์หรือเชิงพื้นที่", True, (
        "ไม่มี", "โลก", "ทวีป/กลุ่มประเทศในทวีป", "กลุ่มประเทศทางเศรษฐกิจ", "ประเทศ", "ภาค", "จังหวัด",
        "อำเภอ", "ตำบล", "หมู่บ้าน", "เทศบาล/อบต.", "พิกัด", "ไม่ทราบ", OTHER,
    ), has_other=True,
        aliases={"none": "ไม่มี", "world": "โลก", "country": "ประเทศ", "region": "ภาค",
                 "province": "จังหวัด", "district": "อำเภอ", "subdistrict": "ตำบล", "village": "หมู่บ้าน",
                 "municipality": "เทศบาล/อบต.", "coordinates": "พิกัด", "unknown": "ไม่ทราบ", "other": OTHER}),
    Field("data_source", "แหล่งที่มา", True),
    Field("data_format", "รูปแบบการเก็บข้อมูล", True, (
        "Database", "CSV", "XML", "Image", "Video", "Audio", "Text", "JSON", "HTML", "DOC/DOCX", "XLS",
        "PDF", "RDF", "NoSQL", "Arc/Info Coverage", "Shapefile", "GeoTiff", "GML", "ไม่ทราบ", OTHER,
    ), multiple=True, has_other=True),
    Field("data_category", "หมวดหมู่ข้อมูลตามธรรมาภิบาลข้อมูลภาครัฐ", True, (
        "ข้อมูลสาธารณะ", "ข้อมูลส่วนบุคคล", "ข้อมูลความมั่นคง", "ข้อมูลความลับทางราชการ", "ข้อมูลใช้ภายใน",
    ), aliases={"public": "ข้อมูลสาธารณะ", "personal": "ข้อมูลส่วนบุคคล", "security": "ข้อมูลความมั่นคง",
                "secret": "ข้อมูลความลับทางราชการ", "internal": "ข้อมูลใช้ภายใน"}),
    Field("license_id", "สัญญาอนุญาต", True, (
        "License not specified", "Creative Commons Attributions",
        "Creative Commons Attribution Share-Alike", "Creative Commons Non-Commercial (Any)",
        "Open Data Common", "GNU Free Documentation License",
        # the 2024 fork's list adds these (gdc-2.1 portals store them too: their licence list is not enforced)
        "Creative Commons Attribution Non-Commercial", "Creative Commons Attribution Non-Commercial Share-Alike",
        "Creative Commons Attribution Non-Commercial No-Derivs", "Creative Commons Attribution No-Derivs", OTHER,
    ), has_other=True,
        aliases={"cc-by": "Creative Commons Attributions", "cc-by-sa": "Creative Commons Attribution Share-Alike",
                 "cc-nc": "Creative Commons Non-Commercial (Any)", "odc": "Open Data Common",
                 "gfdl": "GNU Free Documentation License", "not-specified": "License not specified",
                 "cc-by-nc": "Creative Commons Attribution Non-Commercial",
                 "cc-by-nc-sa": "Creative Commons Attribution Non-Commercial Share-Alike",
                 "cc-by-nc-nd": "Creative Commons Attribution Non-Commercial No-Derivs",
                 "cc-by-nd": "Creative Commons Attribution No-Derivs"}),
    Field("accessible_condition", "เงื่อนไขในการเข้าถึงข้อมูล"),
    Field("url", "URL"),
    Field("data_language", "ภาษาที่ใช้", False, (
        "ไทย", "อังกฤษ", "จีน", "มลายู", "พม่า", "ลาว", "เขมร", "ญี่ปุ่น", "เกาหลี", "ฝรั่งเศส", "เยอรมัน",
        "อารบิก", "ไม่ทราบ", OTHER,
    ), multiple=True, has_other=True, aliases={"th": "ไทย", "en": "อังกฤษ", "zh": "จีน"}),
    Field("last_updated_date", "วันที่ปรับปรุงข้อมูลล่าสุด", kind="date"),
    Field("data_classification", "ระดับชั้นข้อมูล", False, (
        "เปิดเผย", "ชั้นเผยแพร่ภายในองค์กร", "ลับ", "ลับมาก", "ลับที่สุด",
    ), aliases={"open": "เปิดเผย", "internal": "ชั้นเผยแพร่ภายในองค์กร"}),
    # Record, multiple-type and other-type datasets.
    Field("data_support", "หน่วยงานที่สนับสนุนข้อมูล", False, (
        "ไม่มี", "หน่วยงานของรัฐ", "หน่วยงานเอกชน", "หน่วยงาน/องค์กรระหว่างประเทศ", "มูลนิธิ/สมาคม",
        "สถาบันการศึกษา", OTHER,
    ), has_other=True, data_types=(RECORD, MULTIPLE, OTHER_TYPE)),
    Field("data_collect", "หน่วยย่อยที่สุดที่จัดเก็บ", False, (
        "ไม่มี", "บุคคล", "ครัวเรือน/ครอบครัว", "บ้าน/ที่อยู่อาศัย", "บริษัท/ห้างร้าน/สถานประกอบการ",
        "อาคาร/สิ่งปลูกสร้าง", "พื้นที่การเกษตร ประมง ป่าไม้", "สัตว์และพันธุ์พืช",
        "ขอบเขตเชิงภูมิศาสตร์หรือเชิงพื้นที่", "แหล่งน้ำ เช่น แม่น้ำ อ่างเก็บน้ำ",
        "เส้นทางการเดินทาง เช่น ถนน ทางรถไฟ", "ไม่ทราบ", OTHER,
    ), has_other=True, data_types=(RECORD, MULTIPLE, OTHER_TYPE)),
    Field("created_date", "วันที่สร้างข้อมูล", kind="date", data_types=(RECORD, MULTIPLE, OTHER_TYPE)),
    Field("high_value_dataset", "ชุดข้อมูลที่มีคุณค่าสูง", False, TRUE_FALSE,
          data_types=(RECORD, MULTIPLE, OTHER_TYPE)),
    Field("reference_data", "ข้อมูลอ้างอิง", False, TRUE_FALSE, data_types=(RECORD, MULTIPLE, OTHER_TYPE)),
    # Statistical datasets.
    Field("first_year_of_data", "ปีข้อมูลที่เริ่มต้น", data_types=(STATISTICAL,)),
    Field("last_year_of_data", "ปีข้อมูลที่สิ้นสุด", data_types=(STATISTICAL,)),
    Field("data_release_calendar", "ปฏิทินการเผยแพร่ข้อมูล", kind="date", data_types=(STATISTICAL, GEOSPATIAL)),
    Field("disaggregate", "การจำแนกข้อมูล", False, (
        "ไม่มี", "เพศ", "อายุ/กลุ่มอายุ", "สถานภาพสมรส", "ศาสนา", "ระดับการศึกษา", "อาชีพ",
        "สถานภาพการทำงาน", "อุตสาหกรรม/ประเภทกิจการ", "รายได้", "ขอบเขตเชิงภูมิศาสตร์หรือเชิงพื้นที่",
        "ผลิตภัณฑ์", "ไม่ทราบ", OTHER,
    ), multiple=True, has_other=True, data_types=(STATISTICAL,)),
    Field("unit_of_measure", "หน่วยวัด", data_types=(STATISTICAL,)),
    Field("unit_of_multiplier", "หน่วยตัวคูณ", False, (
        "หน่วย", "สิบ", "ร้อย", "พัน", "หมื่น", "แสน", "ล้าน", "สิบล้าน", "ร้อยล้าน", "พันล้าน", "หมื่นล้าน",
        "แสนล้าน", "ล้านล้าน", "ไม่ทราบ", OTHER,
    ), has_other=True, data_types=(STATISTICAL,),
        aliases={"unit": "หน่วย", "ten": "สิบ", "hundred": "ร้อย", "thousand": "พัน", "ten_thousand": "หมื่น",
                 "hundred_thousand": "แสน", "million": "ล้าน", "ten_million": "สิบล้าน",
                 "hundred_million": "ร้อยล้าน", "billion": "พันล้าน", "ten_billion": "หมื่นล้าน",
                 "hundred_billion": "แสนล้าน", "trillion": "ล้านล้าน", "unknown": "ไม่ทราบ", "other": OTHER}),
    Field("calculation_method", "วิธีการคำนวณ", data_types=(STATISTICAL,)),
    Field("standard", "มาตรฐานการจัดทำข้อมูล", data_types=(STATISTICAL,)),
    Field("official_statistics", "สถิติทางการ", False, TRUE_FALSE, data_types=(STATISTICAL,)),
    # Geospatial datasets.
    # DGA lists no "อื่นๆ" here and has no _other field: the project's portal adds both; on a gdc-2.1
    # target the profile check refuses geographic_data_set_other (that portal would drop it).
    Field("geographic_data_set", "ชุดข้อมูลภูมิสารสนเทศ", False, (
        "ชั้นข้อมูลแปลงที่ดิน", "ชั้นข้อมูลขอบเขตการปกครอง", "ชั้นข้อมูลเส้นทางคมนาคม", "ชั้นข้อมูลชุมนุม/อาคาร",
        "ชั้นข้อมูลป่าไม้", "ชั้นข้อมูลการใช้ประโยชน์ที่ดิน", "ชั้นข้อมูลแหล่งน้ำ", "ชั้นข้อมูลอุทกศาสตร์",
        "ชั้นข้อมูลหมุดหลักฐานแผนที่", "ชั้นข้อมูลความสูงภูมิประเทศเชิงตัวเลข", "ชั้นข้อมูลภาพแผนที่ภูมิประเทศ",
        "ชั้นข้อมูลแผนที่ภาพถ่ายทางอากาศ", "ชั้นข้อมูลภาพวาดดาวเทียมดัดแก้", OTHER,
    ), has_other=True, data_types=(GEOSPATIAL,),
        aliases={"land_parcel": "ชั้นข้อมูลแปลงที่ดิน", "administrative_boundary": "ชั้นข้อมูลขอบเขตการปกครอง",
                 "transportation": "ชั้นข้อมูลเส้นทางคมนาคม", "building": "ชั้นข้อมูลชุมนุม/อาคาร",
                 "forest": "ชั้นข้อมูลป่าไม้", "land_use": "ชั้นข้อมูลการใช้ประโยชน์ที่ดิน",
                 "water_body": "ชั้นข้อมูลแหล่งน้ำ", "hydrography": "ชั้นข้อมูลอุทกศาสตร์",
                 "geodetic_control": "ชั้นข้อมูลหมุดหลักฐานแผนที่",
                 "elevation": "ชั้นข้อมูลความสูงภูมิประเทศเชิงตัวเลข",
                 "topographic_map": "ชั้นข้อมูลภาพแผนที่ภูมิประเทศ",
                 "orthophoto": "ชั้นข้อมูลแผนที่ภาพถ่ายทางอากาศ",
                 "satellite_image": "ชั้นข้อมูลภาพวาดดาวเทียมดัดแก้", "other": OTHER}),
    Field("equivalent_scale", "มาตราส่วน", False, (
        "1:4,000", "1:10,000", "1:25,000", "1:50,000", "1:250,000", OTHER,
    ), has_other=True, data_types=(GEOSPATIAL,)),
    Field("west_bound_longitude", "ลองจิจูดขอบเขตทิศตะวันตก", data_types=(GEOSPATIAL,)),
    Field("east_bound_longitude", "ลองจิจูดขอบเขตทิศตะวันออก", data_types=(GEOSPATIAL,)),
    Field("north_bound_longitude", "ละติจูดขอบเขตทิศเหนือ", data_types=(GEOSPATIAL,)),
    Field("south_bound_longitude", "ละติจูดขอบเขตทิศใต้", data_types=(GEOSPATIAL,)),
    Field("positional_accuracy", "ความถูกต้องเชิงตำแหน่ง", data_types=(GEOSPATIAL,)),
    Field("reference_period", "ช่วงเวลาอ้างอิง", data_types=(GEOSPATIAL,)),
    Field("data_release_date", "วันที่เผยแพร่ข้อมูล", kind="date", data_types=(GEOSPATIAL,)),
)

RESOURCE_FIELDS: tuple[str, ...] = (
    "name", "description", "format", "resource_accessible_condition", "resource_data_collect",
    "resource_first_year_of_data", "resource_last_year_of_data", "resource_disaggregate",
    "resource_unit_of_measure", "resource_unit_of_multiplier", "resource_created_date",
    "resource_last_updated_date", "resource_data_release_calendar", "resource_official_statistics",
    "resource_data_release_date", "resource_geographic_data_set", "resource_equivalent_scale",
    "resource_positional_accuracy",
)

BY_NAME: dict[str, Field] = {f.name: f for f in DATASET_FIELDS}

# DGA's tag rule (ckanext-thai_gdc): Thai letters and marks, word characters, space, '-' and '.'.
TAG_PATTERN = r"^[ก-๙\w \-.]+$"
# CKAN's slug rule, with the GD Catalog's 70-character cap.
SLUG_PATTERN = r"^[a-z0-9_-]{2,70}$"
SLUG_MAX = 70


def label(name: str, english: bool = False) -> str:
    """`name (Thai label)` for error messages, so agencies recognise the portal's field;
    ``english``: `name (Thai label / English label)`, for the engineers reading a portal's refusal.

    The label is the one the target portal shows (its profile's schema), else the registry's.
    """
    from .profiles import ProfileError, active  # the profiles read this module: imported here, not at the top

    try:
        profile = active()
        thai = profile.thai_label(name)
        en = profile.english_label(name) if english else None
    except ProfileError:  # reported where the profile is checked; a label must never fail
        thai = en = None
    thai = thai or (BY_NAME[name].label if name in BY_NAME else None)
    if thai is None and name.endswith("_other") and name.removesuffix("_other") in BY_NAME:
        thai = BY_NAME[name.removesuffix("_other")].label + " (อื่นๆ โปรดระบุ)"
    shown = " / ".join(t for t in (thai, en) if t)
    return f"{name} ({shown})" if shown else name
