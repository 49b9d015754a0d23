"""TODO(helper): see the brief"""

from fastapi import APIRouter

router = APIRouter()
