"""SeaweedFS is a real S3 endpoint: the generated keys work, a wrong secret does not."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def client(s3: dict, secret_key: str | None = None):
    return boto3.client(
        "s3", endpoint_url=s3["endpoint"], region_name=s3["region"],
        aws_access_key_id=s3["access_key"], aws_secret_access_key=secret_key or s3["secret_key"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def test_bucket_put_list_get(services):
    s3 = client(services["s3"])
    s3.create_bucket(Bucket="harvest-drops")
    body = "สถานี,pm25\nกรุงเทพฯ,41.5\n".encode("utf-8")
    s3.put_object(Bucket="harvest-drops", Key="pcd/2025-01-31/pm25.csv", Body=body)
    listed = s3.list_objects_v2(Bucket="harvest-drops", Prefix="pcd/")
    assert [o["Key"] for o in listed["Contents"]] == ["pcd/2025-01-31/pm25.csv"]
    assert s3.get_object(Bucket="harvest-drops", Key="pcd/2025-01-31/pm25.csv")["Body"].read() == body


def test_wrong_secret_key_is_refused(services):
    s3 = client(services["s3"], secret_key="not-the-secret")
    with pytest.raises(ClientError) as exc:
        s3.list_buckets()
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
