"""Words of the monthly report, in English and Arabic (taxonomy ids stay the keys)."""

from __future__ import annotations

from typing import Any

_EN_VALUES = {
    "tickets_received": "Tickets received",
    "journalists_assisted": "Journalists assisted",
    "activists_assisted": "Activists assisted",
    "tickets_escalated": "Tickets escalated",
    "P1": "P1 critical", "P2": "P2 high", "P3": "P3 normal", "P4": "P4 low",
    "sent": "Sent", "received": "Received",
    "open": "Open", "accepted": "Accepted", "declined": "Declined", "closed": "Closed",
    "withdrawn": "Withdrawn",
    "p50": "Median (p50)", "p90": "p90",
}  # fmt: skip

_AR_VALUES = {
    "tickets_received": "الطلبات المستلمة",
    "journalists_assisted": "صحفيون تمت مساعدتهم",
    "activists_assisted": "ناشطون تمت مساعدتهم",
    "tickets_escalated": "طلبات صُعّدت",
    "P1": "P1 حرجة", "P2": "P2 عالية", "P3": "P3 عادية", "P4": "P4 منخفضة",
    "account_compromise": "اختراق حساب",
    "account_suspension": "تعليق حساب",
    "impersonation": "انتحال شخصية",
    "doxxing": "نشر معلومات شخصية",
    "threats": "تهديدات",
    "harassment": "تحرش إلكتروني",
    "sextortion": "ابتزاز جنسي",
    "defamation": "تشهير",
    "device_compromise": "اختراق جهاز",
    "surveillance": "مراقبة",
    "phishing": "تصيّد",
    "device_seizure": "مصادرة جهاز",
    "entrapment": "استدراج",
    "website_attack": "هجوم على موقع",
    "censorship": "رقابة وحجب",
    "advice": "استشارة",
    "out_of_scope": "خارج النطاق",
    "web": "الموقع", "email": "البريد الإلكتروني", "whatsapp": "واتساب", "signal": "سيغنال",
    "api": "واجهة برمجية", "referral": "إحالة",
    "journalist": "صحفي", "activist": "ناشط", "hrd": "مدافع عن حقوق الإنسان",
    "lgbtq": "مجتمع الميم", "civil_society": "مجتمع مدني", "private_person": "فرد",
    "unknown": "غير معروف",
    "sent": "مُرسلة", "received": "مُستلمة",
    "open": "قيد المتابعة", "accepted": "مقبولة", "declined": "مرفوضة", "closed": "مغلقة",
    "withdrawn": "مسحوبة",
    "p50": "الوسيط (p50)", "p90": "p90",
}  # fmt: skip

LABELS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Monthly report",
        "note": "Counts from 1 to {t}-1 read <{t}; x marks a count withheld so that a small one "
        "cannot be worked out from a total. Countries are counted by whole weeks.",
        "counters_title": "This month",
        "value": "",
        "tickets": "Tickets",
        "total": "Total",
        "chart": {
            "priority": "Tickets by priority, per day",
            "category": "Tickets by category, per day",
            "platform_response": "Platform response time (minutes)",
            "referrals": "Referrals sent and received, per day",
        },
        "referrals": {
            "title": "Referrals",
            "partners": "By partner",
            "partner": "Partner",
            "outcomes": {"sent": "Referrals sent: where they stand",
                         "received": "Referrals received: where they stand"},
            "acceptance": {"sent": "Referrals sent: time to acceptance (minutes)",
                           "received": "Referrals received: time to acceptance (minutes)"},
            "count": "Referrals",
            "none": "No referrals this month.",
        },
        "dimensions": {
            "category": "By category", "priority": "By priority", "channel": "By channel",
            "requester_role": "By requester", "country": "By country",
        },
        "values": _EN_VALUES,
    },
    "ar": {
        "title": "التقرير الشهري",
        "note": "الأعداد من 1 إلى {t}-1 تظهر ‎<{t}‎؛ وتشير x إلى عدد حُجب كي لا يُستنتج عدد صغير "
        "من المجموع. تُحسب البلدان بأسابيع كاملة.",
        "counters_title": "هذا الشهر",
        "value": "",
        "tickets": "الطلبات",
        "total": "المجموع",
        "chart": {
            "priority": "الطلبات حسب الأولوية يومياً",
            "category": "الطلبات حسب الفئة يومياً",
            "platform_response": "زمن استجابة المنصات (بالدقائق)",
            "referrals": "الإحالات المُرسلة والمُستلمة يومياً",
        },
        "referrals": {
            "title": "الإحالات",
            "partners": "حسب الجهة الشريكة",
            "partner": "الجهة الشريكة",
            "outcomes": {"sent": "الإحالات المُرسلة: أين وصلت",
                         "received": "الإحالات المُستلمة: أين وصلت"},
            "acceptance": {"sent": "الإحالات المُرسلة: الوقت حتى القبول (بالدقائق)",
                           "received": "الإحالات المُستلمة: الوقت حتى القبول (بالدقائق)"},
            "count": "الإحالات",
            "none": "لا إحالات هذا الشهر.",
        },
        "dimensions": {
            "category": "حسب الفئة", "priority": "حسب الأولوية", "channel": "حسب القناة",
            "requester_role": "حسب صفة مقدّم الطلب", "country": "حسب البلد",
        },
        "values": _AR_VALUES,
    },
}  # fmt: skip
