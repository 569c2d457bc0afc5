"""Expected rows for tests/fixtures/corpus/seed.txt (the real seed document), every column."""

import datetime

ARTICLE = {
    "article_id": "26adda6e9f939c78",
    "canonical_url": "https://www.aljazeera.com/economy/2020/12/17/alibaba-facial-recognition-tech-can-identify-uighurs-report",
    "title": "Alibaba facial recognition tech can identify Uighurs: Report",
    "excerpt": "Technology giant Alibaba Group Holding Ltd has facial recognition technology that can "
    "specifically ... to avoid running afoul of a government that strictly controls online "
    "speech, and which last month published draft rules to police livestreaming.",
    "category": "news",
    "type": "article",
    "published_at": datetime.datetime(2020, 12, 17, 17, 43, tzinfo=datetime.UTC),
    "original_url": "https://www.aljazeera.com/economy/2020/12/17/alibaba-facial-recognition-tech-can-identify-uighurs-report",
    "web_url": "https://www.aljazeera.com/economy/2020/12/17/alibaba-facial-recognition-tech-can-identify-uighurs-report",
    "amp_web_url": "https://www.aljazeera.com/amp/economy/2020/12/17/alibaba-facial-recognition-tech-can-identify-uighurs-report",
    "cdn_amp_web_url": "https://www-aljazeera-com.cdn.ampproject.org/c/s/www.aljazeera.com/amp/economy/2020/12/17/alibaba-facial-recognition-tech-can-identify-uighurs-report",
    "quality": 61,
    "heat": -1,
    "is_published": False,
    "provider_id": "89cb4951cd201872",
    "secured": "LUJUVGb/8og0xjAyMIDQFI1LhKQqWcpb32jw7nj8nEjkS2ZqgE8CewTiXCQBK0yGi4f4+VJ7qZpdgcvmluJHbzse13AYL/1bJ1iZzm/1FFwGsh68TcB0NsKV+K+jk3irmXMTfNLyZYAJmeG3UN8a8dXgUM0OspMdoBuuUnFTVOCRDKy0JjFlsNXQx1tPz6Dsmqty+CUA6HgFox3tx8OVbzjgxyVrsw0mTHjagT7xsMs3RTJuuadiHM+6fwo/fcKEDbNNo3UVyZJvtAKVmM6PgM5JHciWYWMYZGk6iLAVUMLx/z8RheSKqidABriwKan/dojEOcaz4EtadQj+Wq4XdR8APLNLYEFy5CAP+xSwRLE8hfXapToBCgANMDMmtL5u0ywZW2aliJyFkhiqAmswuwqPhAOMUkhQQ2F6gzezaFXs2KcJr7Au/SxkTeROkByT7hfeN0bw+gULt5uohBUy/RkQeu+IOMaAJNl12kxx4jFFCqZ9ou32D9JQSBlGPvP1bYJrRMaSbaMtjuxKKnVihw==;YBj6cwjeEXYxQ+kESg01kA==",
    "body": None,
    "extra": None,
    "source_path": None,  # filled in by the test
    "source_sha256": "b808400e306850f862945cc2bb97e7549aa0b2296bb6150be37efbfbe8f605bb",
}

PROVIDERS = [
    {
        "provider_id": "89cb4951cd201872",
        "domain": "aljazeera.com",
        "name": "Al Jazeera English",
        "name_observed_at": datetime.datetime(2020, 12, 17, 17, 43, tzinfo=datetime.UTC),
    },
    {
        "provider_id": "0cf2965759cc65dd",
        "domain": "reuters.com",
        "name": "Reuters",
        "name_observed_at": datetime.datetime(2020, 12, 17, 11, 25, tzinfo=datetime.UTC),
    },
    {
        "provider_id": "a0f2ba02cf2c3df0",
        "domain": "theguardian.com",
        "name": "The Guardian",
        "name_observed_at": datetime.datetime(2020, 12, 17, 10, 46, tzinfo=datetime.UTC),
    },
    {
        "provider_id": "a7e51f0ec4c1fa8d",
        "domain": "dhakatribune.com",
        "name": "Dhaka Tribune",
        "name_observed_at": datetime.datetime(2020, 12, 17, 12, 23, tzinfo=datetime.UTC),
    },
]

RELATED = [
    {
        "related_id": "194cb925f4875885",
        "article_id": "26adda6e9f939c78",
        "position": 1,
        "related_article_id": "eb4ce8b740761c67",
        "title": "Alibaba facial recognition tech specifically picks out Uighur minority - report",
        "excerpt": "Technology giant Alibaba Group Holding Ltd has facial recognition technology which "
        "can specifically pick out members of China's Uighur minority, surveillance industry "
        "researcher IPVM said in a report.",
        "published_at": datetime.datetime(2020, 12, 17, 11, 25, tzinfo=datetime.UTC),
        "original_url": None,
        "web_url": "https://www.reuters.com/article/alibaba-surveillance-idINKBN28R0KP",
        "amp_web_url": "https://mobile.reuters.com/article/amp/idINKBN28R0KP",
        "cdn_amp_web_url": "https://mobile-reuters-com.cdn.ampproject.org/c/s/mobile.reuters.com/article/amp/idINKBN28R0KP",
        "type": "article",
        "provider_id": "0cf2965759cc65dd",
        "quality": 85,
        "extra": None,
    },
    {
        "related_id": "76297d9c360c3ffb",
        "article_id": "26adda6e9f939c78",
        "position": 2,
        "related_article_id": "4cc39470b6748a94",
        "title": "Alibaba offered clients facial recognition to identify Uighur people, report reveals",
        "excerpt": "Software could be used to identify videos filmed and uploaded by Uighur person, says "
        "IVPM First published on Thu 17 Dec 2020 05.42 EST The Chinese tech company Alibaba "
        "Group Holding Ltd offered facial recognition software to clients which can identify "
        "the ...",
        "published_at": datetime.datetime(2020, 12, 17, 10, 46, tzinfo=datetime.UTC),
        "original_url": None,
        "web_url": "https://www.theguardian.com/business/2020/dec/17/alibaba-offered-clients-facial-recognition-to-identify-uighur-people",
        "amp_web_url": "https://amp.theguardian.com/business/2020/dec/17/alibaba-offered-clients-facial-recognition-to-identify-uighur-people",
        "cdn_amp_web_url": "https://amp-theguardian-com.cdn.ampproject.org/c/s/amp.theguardian.com/business/2020/dec/17/alibaba-offered-clients-facial-recognition-to-identify-uighur-people",
        "type": "article",
        "provider_id": "a0f2ba02cf2c3df0",
        "quality": 52,
        "extra": None,
    },
    {
        "related_id": "f42f4f75ebf12879",
        "article_id": "26adda6e9f939c78",
        "position": 3,
        "related_article_id": "526d4662b9142434",
        "title": "Alibaba facial recognition tech specifically picks out Uighur minority",
        "excerpt": "The report comes as human rights groups accuse China of forcing over 1 million "
        "Muslim Uighurs into labour camps, and calls out firms suspected of complicity",
        "published_at": datetime.datetime(2020, 12, 17, 12, 23, tzinfo=datetime.UTC),
        "original_url": None,
        "web_url": "https://www.dhakatribune.com/world/2020/12/17/alibaba-facial-recognition-tech-specifically-picks-out-uighur-minority",
        "amp_web_url": None,
        "cdn_amp_web_url": None,
        "type": "article",
        "provider_id": "a7e51f0ec4c1fa8d",
        "quality": 39,
        "extra": None,
    },
]

IMAGES = [
    {
        "image_id": "4f24304a4f475917",
        "article_id": "26adda6e9f939c78",
        "related_id": None,
        "position": 1,
        "url": "https://www.aljazeera.com/wp-content/uploads/2020/12/333234268.jpg?resize=1200%2C630",
        "width": 1200,
        "height": 630,
        "is_cached": True,
        "extra": None,
    },
    {
        "image_id": "d64bd211cbf6c0f6",
        "article_id": "26adda6e9f939c78",
        "related_id": "194cb925f4875885",
        "position": 1,
        "url": "https://s4.reutersmedia.net/resources/r/?m=02&d=20201217&t=2&i=1544849747&w=&fh=545px&fw=&ll=&pl=&sq=&r=LYNXMPEGBG0BY",
        "width": 817,
        "height": 545,
        "is_cached": True,
        "extra": None,
    },
    {
        "image_id": "a04ad4fc5849f461",
        "article_id": "26adda6e9f939c78",
        "related_id": "76297d9c360c3ffb",
        "position": 1,
        "url": "https://i.guim.co.uk/img/media/b4c36f40a6a706f577e8c9cb5824621cf9239df4/0_104_3111_1867/master/3111.jpg?width=300&quality=45&auto=format&fit=max&dpr=2&s=ec5eada49ac3f9ef41f0b12ba6876add",
        "width": 600,
        "height": 360,
        "is_cached": True,
        "extra": None,
    },
    {
        "image_id": "08351f78f6cae30a",
        "article_id": "26adda6e9f939c78",
        "related_id": "f42f4f75ebf12879",
        "position": 1,
        "url": "https://media-eng.dhakatribune.com/uploads/2020/12/watermarked/353648/1608207544694alibaba-facial-recognition-tech-specifically-picks-out-uighur-minority-1608207508068.jpg",
        "width": 600,
        "height": 315,
        "is_cached": True,
        "extra": None,
    },
]

TOPICS = [
    {"topic_id": "546bd321885f6d67", "name": "Natural Language Processing"},
    {"topic_id": "e0524f48691e5177", "name": "AI"},
    {"topic_id": "9c4e79fbfc4849ee", "name": "Computer Vision"},
]

ARTICLE_TOPICS = [
    {"article_id": "26adda6e9f939c78", "topic_id": "546bd321885f6d67", "position": 1},
    {"article_id": "26adda6e9f939c78", "topic_id": "e0524f48691e5177", "position": 2},
    {"article_id": "26adda6e9f939c78", "topic_id": "9c4e79fbfc4849ee", "position": 3},
]

WARNINGS = []
